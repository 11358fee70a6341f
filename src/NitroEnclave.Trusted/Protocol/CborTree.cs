using System.Formats.Cbor;

namespace NitroEnclave.Protocol;

/// <summary>
/// Reads a CBOR message into plain values (long, double, string, byte[], bool, null, List, text-keyed Dictionary) with
/// a depth limit, so protocol decoding can check fields by name in any order. Any malformation is BadRequest, and so
/// is text that is not valid UTF-8, a key that appears twice (compared by value) and an indefinite-length (chunked)
/// string. Maps and arrays may have indefinite length: the encoder writes maps that way, fields being optional.
/// </summary>
internal static class CborTree
{
    private const int MaxDepth = 8;
    private const int MaxItems = 4096;

    public static Dictionary<string, object?> ReadMap(byte[] encoded)
    {
        try
        {
            var reader = new CborReader(encoded, CborConformanceMode.Strict);
            var items = 0;
            var value = Read(reader, 0, ref items);
            if (reader.BytesRemaining != 0)
            {
                throw Bad("trailing bytes after the message");
            }

            return value as Dictionary<string, object?> ?? throw Bad("the message is not a CBOR map");
        }
        catch (Exception ex) when (ex is CborContentException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.BadRequest, "The message is not valid CBOR: " + ex.Message, ex);
        }
    }

    private static object? Read(CborReader reader, int depth, ref int items)
    {
        if (depth > MaxDepth || ++items > MaxItems)
        {
            throw Bad("the message nests too deep or holds too many items");
        }

        switch (reader.PeekState())
        {
            case CborReaderState.UnsignedInteger:
            case CborReaderState.NegativeInteger:
                return reader.ReadInt64();
            case CborReaderState.HalfPrecisionFloat:
            case CborReaderState.SinglePrecisionFloat:
            case CborReaderState.DoublePrecisionFloat:
                return reader.ReadDouble();
            case CborReaderState.TextString:
                return reader.ReadTextString();
            case CborReaderState.ByteString:
                return reader.ReadByteString();
            case CborReaderState.Boolean:
                return reader.ReadBoolean();
            case CborReaderState.Null:
                reader.ReadNull();
                return null;
            case CborReaderState.StartArray:
                var list = new List<object?>();
                reader.ReadStartArray();
                while (reader.PeekState() != CborReaderState.EndArray)
                {
                    list.Add(Read(reader, depth + 1, ref items));
                }

                reader.ReadEndArray();
                return list;
            case CborReaderState.StartIndefiniteLengthTextString:
            case CborReaderState.StartIndefiniteLengthByteString:
                throw IndefiniteString();
            case CborReaderState.StartMap:
                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                reader.ReadStartMap();
                while (reader.PeekState() != CborReaderState.EndMap)
                {
                    var keyState = reader.PeekState();
                    if (keyState != CborReaderState.TextString)
                    {
                        throw keyState == CborReaderState.StartIndefiniteLengthTextString ? IndefiniteString() : Bad("map keys must be text");
                    }

                    var key = reader.ReadTextString();
                    if (!map.TryAdd(key, Read(reader, depth + 1, ref items)))
                    {
                        throw Bad($"duplicate key '{key}'");
                    }
                }

                reader.ReadEndMap();
                return map;
            default:
                throw Bad($"unsupported CBOR item {reader.PeekState()}");
        }
    }

    public static EnclaveProtocolException Bad(string detail) => new(ProtocolErrorCodes.BadRequest, "Bad message: " + detail + ".");

    /// <summary>A string's length is always known to its writer; chunks only add other encodings of the same value.</summary>
    private static EnclaveProtocolException IndefiniteString() => Bad("an indefinite-length (chunked) string; strings must have a definite length");
}

/// <summary>Typed access to the fields of a decoded map; a missing or mistyped field is BadRequest naming it.</summary>
internal readonly struct CborFields(Dictionary<string, object?> map, string context)
{
    public bool Has(string name) => map.TryGetValue(name, out var v) && v is not null;

    /// <summary>Whether the field is present at all, even as null.</summary>
    public bool Contains(string name) => map.ContainsKey(name);

    /// <summary>
    /// Requests are strict: a field the server does not know is BadRequest rather than ignored, so a caller never
    /// believes the server honoured something it did not read.
    /// </summary>
    public void AllowOnly(params string[] names)
    {
        foreach (var key in map.Keys)
        {
            if (Array.IndexOf(names, key) < 0)
            {
                throw CborTree.Bad($"{context} has an unknown field '{ProtocolCodec.Printable(key)}'");
            }
        }
    }

    public string Text(string name) => Optional<string>(name) ?? throw Missing(name);

    public string? OptionalText(string name) => Optional<string>(name);

    public byte[] Bytes(string name) => Optional<byte[]>(name) ?? throw Missing(name);

    public byte[]? OptionalBytes(string name) => Optional<byte[]>(name);

    public long Integer(string name) => Has(name) ? Optional<long>(name) : throw Missing(name);

    public long? OptionalInteger(string name) => Has(name) ? Optional<long>(name) : null;

    public double? OptionalNumber(string name) => map.TryGetValue(name, out var v) ? v switch
    {
        null => null,
        double d => d,
        long l => l,
        _ => throw Mistyped(name),
    } : null;

    public bool OptionalBool(string name) => Has(name) && Optional<bool>(name);

    public CborFields Map(string name) => new(Optional<Dictionary<string, object?>>(name) ?? throw Missing(name), context + "." + name);

    public CborFields? OptionalMap(string name) =>
        Optional<Dictionary<string, object?>>(name) is { } m ? new CborFields(m, context + "." + name) : null;

    public List<object?> List(string name) => Optional<List<object?>>(name) ?? [];

    private T? Optional<T>(string name) => map.TryGetValue(name, out var value) ? value switch
    {
        null => default,
        T typed => typed,
        _ => throw Mistyped(name),
    } : default;

    private EnclaveProtocolException Missing(string name) => CborTree.Bad($"{context} has no '{name}'");

    private EnclaveProtocolException Mistyped(string name) => CborTree.Bad($"{context}.{name} has the wrong type");
}
