using System.Buffers.Binary;
using System.Text;

namespace NitroEnclave.Envelope;

/// <summary>
/// The encryption context serialization of framework/structures.md: u16 count, then u16-length-prefixed UTF-8 keys and
/// values sorted by the bytes of their keys. An empty context serializes to nothing.
/// </summary>
public static class EncryptionContextSerializer
{
    /// <summary>Keys with this prefix are reserved for the format itself.</summary>
    public const string ReservedPrefix = "aws-crypto-";

    /// <summary>The context key that carries the signature verification key of signed suites.</summary>
    public const string PublicKeyName = "aws-crypto-public-key";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Serialize(IReadOnlyDictionary<string, string> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Count == 0)
        {
            return [];
        }

        if (context.Count > ushort.MaxValue)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.ContextTooLarge, $"The encryption context has {context.Count} entries; the format allows {ushort.MaxValue}.");
        }

        var entries = new List<(byte[] Key, byte[] Value)>(context.Count);
        foreach (var (key, value) in context)
        {
            entries.Add((Encode(key, "key"), Encode(value ?? string.Empty, "value")));
        }

        entries.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        var size = 2 + entries.Sum(e => 4 + e.Key.Length + e.Value.Length);
        if (size > ushort.MaxValue)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.ContextTooLarge, $"The encryption context serializes to {size} bytes; the format allows {ushort.MaxValue}.");
        }

        var output = new byte[size];
        BinaryPrimitives.WriteUInt16BigEndian(output, (ushort)entries.Count);
        var offset = 2;
        foreach (var (key, value) in entries)
        {
            offset = WriteField(output, offset, key);
            offset = WriteField(output, offset, value);
        }

        return output;
    }

    /// <summary>Parses a serialized context (the Key Value Pairs field, without its length prefix).</summary>
    public static Dictionary<string, string> Deserialize(ReadOnlySpan<byte> serialized)
    {
        var context = new Dictionary<string, string>(StringComparer.Ordinal);
        if (serialized.IsEmpty)
        {
            return context;
        }

        if (serialized.Length < 2)
        {
            throw Malformed("its entry count is cut short");
        }

        var count = BinaryPrimitives.ReadUInt16BigEndian(serialized);
        if (count == 0)
        {
            throw Malformed("a non-empty context declares 0 entries");
        }

        var offset = 2;
        for (var i = 0; i < count; i++)
        {
            var key = ReadField(serialized, ref offset);
            var value = ReadField(serialized, ref offset);
            if (!context.TryAdd(key, value))
            {
                throw Malformed($"the key '{key}' appears twice");
            }
        }

        if (offset != serialized.Length)
        {
            throw Malformed($"{serialized.Length - offset} bytes follow its {count} entries");
        }

        return context;
    }

    private static byte[] Encode(string text, string what)
    {
        try
        {
            return StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.InvalidOption, $"An encryption context {what} is not valid Unicode text.");
        }
    }

    private static int WriteField(byte[] output, int offset, byte[] field)
    {
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(offset), (ushort)field.Length);
        field.CopyTo(output, offset + 2);
        return offset + 2 + field.Length;
    }

    private static string ReadField(ReadOnlySpan<byte> serialized, ref int offset)
    {
        if (serialized.Length - offset < 2)
        {
            throw Malformed("an entry is cut short");
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(serialized[offset..]);
        offset += 2;
        if (serialized.Length - offset < length)
        {
            throw Malformed("an entry is longer than the context");
        }

        try
        {
            var text = StrictUtf8.GetString(serialized.Slice(offset, length));
            offset += length;
            return text;
        }
        catch (DecoderFallbackException)
        {
            throw Malformed("an entry is not valid UTF-8");
        }
    }

    private static NitroEnclaveException Malformed(string reason) =>
        EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The message's encryption context is malformed: {reason}.");
}
