using System.Formats.Cbor;

namespace NitroEnclave.Attestation;

/// <summary>
/// Encodes and decodes Nitro Security Module messages: CBOR, externally tagged. Messages without fields are a bare
/// text string; the others a one-entry map from the message name to a map of fields.
/// </summary>
public static class NsmCodec
{
    /// <summary>The largest request the module accepts.</summary>
    public const int MaxRequestSize = 0x1000;

    /// <summary>The response buffer the driver is given.</summary>
    public const int MaxResponseSize = 0x3000;

    public static byte[] EncodeRequest(NsmRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var writer = new CborWriter(CborConformanceMode.Lax);
        switch (request)
        {
            case NsmBareRequest bare:
                writer.WriteTextString(bare.Name);
                return writer.Encode();
            case NsmAttestationRequest attestation:
                StartBody(writer, request.Name, 3);
                WriteOptionalBytes(writer, "user_data", attestation.UserData);
                WriteOptionalBytes(writer, "nonce", attestation.Nonce);
                WriteOptionalBytes(writer, "public_key", attestation.PublicKey);
                break;
            case NsmDescribePcrRequest describe:
                StartBody(writer, request.Name, 1);
                WriteIndex(writer, describe.Index);
                break;
            case NsmExtendPcrRequest extend:
                StartBody(writer, request.Name, 2);
                WriteIndex(writer, extend.Index);
                writer.WriteTextString("data");
                writer.WriteByteString(extend.Data);
                break;
            case NsmLockPcrRequest lockPcr:
                StartBody(writer, request.Name, 1);
                WriteIndex(writer, lockPcr.Index);
                break;
            default:
                throw new ArgumentException($"Unknown request type {request.GetType().Name}.", nameof(request));
        }

        EndBody(writer);
        return writer.Encode();
    }

    public static byte[] EncodeResponse(NsmResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var writer = new CborWriter(CborConformanceMode.Lax);
        switch (response)
        {
            case NsmLockPcrResponse:
                writer.WriteTextString(response.Name);
                return writer.Encode();
            case NsmErrorResponse error:
                writer.WriteStartMap(1);
                writer.WriteTextString(response.Name);
                writer.WriteTextString(error.Code);
                writer.WriteEndMap();
                return writer.Encode();
            case NsmAttestationResponse attestation:
                StartBody(writer, response.Name, 1);
                writer.WriteTextString("document");
                writer.WriteByteString(attestation.Document);
                break;
            case NsmDescribePcrResponse describe:
                StartBody(writer, response.Name, 2);
                writer.WriteTextString("lock");
                writer.WriteBoolean(describe.Locked);
                writer.WriteTextString("data");
                writer.WriteByteString(describe.Data);
                break;
            case NsmExtendPcrResponse extend:
                StartBody(writer, response.Name, 1);
                writer.WriteTextString("data");
                writer.WriteByteString(extend.Data);
                break;
            case NsmGetRandomResponse random:
                StartBody(writer, response.Name, 1);
                writer.WriteTextString("random");
                writer.WriteByteString(random.Random);
                break;
            case NsmDescribeNsmResponse describeNsm:
                var d = describeNsm.Description;
                StartBody(writer, response.Name, 7);
                WriteUInt(writer, "version_major", d.VersionMajor);
                WriteUInt(writer, "version_minor", d.VersionMinor);
                WriteUInt(writer, "version_patch", d.VersionPatch);
                writer.WriteTextString("module_id");
                writer.WriteTextString(d.ModuleId);
                WriteUInt(writer, "max_pcrs", d.MaxPcrs);
                writer.WriteTextString("locked_pcrs");
                writer.WriteStartArray(d.LockedPcrs.Count);
                foreach (var index in d.LockedPcrs)
                {
                    writer.WriteUInt32((uint)index);
                }

                writer.WriteEndArray();
                writer.WriteTextString("digest");
                writer.WriteTextString(d.Digest);
                break;
            default:
                throw new ArgumentException($"Unknown response type {response.GetType().Name}.", nameof(response));
        }

        EndBody(writer);
        return writer.Encode();
    }

    /// <summary>Decodes a request; anything malformed raises <see cref="AttestationErrors.NsmMessageMalformed"/>.</summary>
    public static NsmRequest DecodeRequest(ReadOnlyMemory<byte> encoded) => Decode<NsmRequest>(encoded, "request", (name, body) => name switch
    {
        "GetRandom" when body is null => NsmBareRequest.GetRandom,
        "DescribeNSM" when body is null => NsmBareRequest.DescribeNsm,
        "Attestation" when body is not null => new NsmAttestationRequest(body.OptionalBytes("user_data"), body.OptionalBytes("nonce"), body.OptionalBytes("public_key")),
        "DescribePCR" when body is not null => new NsmDescribePcrRequest(body.Index()),
        "ExtendPCR" when body is not null => new NsmExtendPcrRequest(body.Index(), body.Bytes("data")),
        "LockPCR" when body is not null => new NsmLockPcrRequest(body.Index()),
        _ => throw Malformed($"'{name}' is not a known request{(body is null ? " without fields" : string.Empty)}."),
    });

    /// <summary>Decodes a response; anything malformed raises <see cref="AttestationErrors.NsmMessageMalformed"/>.</summary>
    public static NsmResponse DecodeResponse(ReadOnlyMemory<byte> encoded) => Decode<NsmResponse>(encoded, "response", (name, body) => name switch
    {
        "LockPCR" when body is null => NsmLockPcrResponse.Instance,
        "Error" when body is not null => new NsmErrorResponse(body.ErrorCode ?? throw Malformed("an Error response carries a text code.")),
        "Attestation" when body is not null => new NsmAttestationResponse(body.Bytes("document")),
        "DescribePCR" when body is not null => new NsmDescribePcrResponse(body.Boolean("lock"), body.Bytes("data")),
        "ExtendPCR" when body is not null => new NsmExtendPcrResponse(body.Bytes("data")),
        "GetRandom" when body is not null => new NsmGetRandomResponse(body.Bytes("random")),
        "DescribeNSM" when body is not null => new NsmDescribeNsmResponse(new NsmDescription(
            body.UInt16("version_major"),
            body.UInt16("version_minor"),
            body.UInt16("version_patch"),
            body.Text("module_id"),
            body.UInt16("max_pcrs"),
            body.UInt16Array("locked_pcrs"),
            body.Text("digest"))),
        _ => throw Malformed($"'{name}' is not a known response{(body is null ? " without fields" : string.Empty)}."),
    });

    private static T Decode<T>(ReadOnlyMemory<byte> encoded, string kind, Func<string, Body?, T> build)
    {
        try
        {
            // Strict: text must be valid UTF-8. Fields are also compared by value in Body, as a key can repeat in another encoding.
            var reader = new CborReader(encoded, CborConformanceMode.Strict);
            T message;
            if (reader.PeekState() == CborReaderState.TextString)
            {
                message = build(reader.ReadTextString(), null);
            }
            else
            {
                if (reader.ReadStartMap() is not 1)
                {
                    throw Malformed($"a {kind} is a text string or a map with one entry.");
                }

                var name = reader.ReadTextString();
                var body = name == "Error" ? Body.ReadErrorCode(reader) : Body.Read(reader);
                reader.ReadEndMap();
                message = build(name, body);
            }

            if (reader.BytesRemaining != 0)
            {
                throw Malformed($"trailing bytes after the {kind}.");
            }

            return message;
        }
        catch (Exception ex) when (ex is CborContentException or InvalidOperationException or FormatException or OverflowException)
        {
            throw Malformed(ex.Message, ex);
        }
    }

    private static void StartBody(CborWriter writer, string name, int fields)
    {
        writer.WriteStartMap(1);
        writer.WriteTextString(name);
        writer.WriteStartMap(fields);
    }

    private static void EndBody(CborWriter writer)
    {
        writer.WriteEndMap();
        writer.WriteEndMap();
    }

    private static void WriteIndex(CborWriter writer, int index) => WriteUInt(writer, "index", index);

    private static void WriteUInt(CborWriter writer, string key, int value)
    {
        writer.WriteTextString(key);
        writer.WriteUInt32(checked((uint)value));
    }

    private static void WriteOptionalBytes(CborWriter writer, string key, byte[]? value)
    {
        writer.WriteTextString(key);
        if (value is null)
        {
            writer.WriteNull();
        }
        else
        {
            writer.WriteByteString(value);
        }
    }

    private static NitroEnclaveException Malformed(string detail, Exception? inner = null) =>
        new(AttestationErrors.NsmMessageMalformed, ErrorKind.InvalidData, "Malformed Nitro Security Module message: " + detail, inner);

    /// <summary>The fields of a message body, read up front so their order does not matter.</summary>
    private sealed class Body
    {
        private readonly Dictionary<string, object?> _fields = new(StringComparer.Ordinal);

        public string? ErrorCode { get; private init; }

        public static Body ReadErrorCode(CborReader reader) => new() { ErrorCode = reader.ReadTextString() };

        public static Body Read(CborReader reader)
        {
            var body = new Body();
            reader.ReadStartMap();
            while (reader.PeekState() != CborReaderState.EndMap)
            {
                var key = reader.ReadTextString();
                object? value = reader.PeekState() switch
                {
                    CborReaderState.Null => ReadNull(reader),
                    CborReaderState.ByteString => reader.ReadByteString(),
                    CborReaderState.TextString => reader.ReadTextString(),
                    CborReaderState.Boolean => reader.ReadBoolean(),
                    CborReaderState.UnsignedInteger => reader.ReadUInt64(),
                    CborReaderState.StartArray => ReadUIntArray(reader),
                    _ => throw Malformed($"the field '{key}' has an unexpected CBOR type {reader.PeekState()}."),
                };
                if (!body._fields.TryAdd(key, value))
                {
                    throw Malformed($"the field '{key}' appears twice.");
                }
            }

            reader.ReadEndMap();
            return body;
        }

        public byte[]? OptionalBytes(string key) => _fields.TryGetValue(key, out var value) ? value switch
        {
            null => null,
            byte[] bytes => bytes,
            _ => throw Malformed($"the field '{key}' is not a byte string or null."),
        } : null;

        public byte[] Bytes(string key) => Get<byte[]>(key, "a byte string");

        public string Text(string key) => Get<string>(key, "a text string");

        public bool Boolean(string key) => Get<bool>(key, "a boolean");

        public int Index() => UInt16("index");

        public int UInt16(string key)
        {
            var value = Get<ulong>(key, "an unsigned integer");
            return value <= ushort.MaxValue ? (int)value : throw Malformed($"the field '{key}' ({value}) is out of range.");
        }

        public int[] UInt16Array(string key) =>
            Get<ulong[]>(key, "an array of unsigned integers").Select(v => v <= ushort.MaxValue ? (int)v : throw Malformed($"an element of '{key}' is out of range.")).ToArray();

        private T Get<T>(string key, string description) =>
            _fields.TryGetValue(key, out var value) && value is T typed ? typed : throw Malformed($"the field '{key}' is missing or is not {description}.");

        private static object? ReadNull(CborReader reader)
        {
            reader.ReadNull();
            return null;
        }

        private static ulong[] ReadUIntArray(CborReader reader)
        {
            var values = new List<ulong>();
            reader.ReadStartArray();
            while (reader.PeekState() != CborReaderState.EndArray)
            {
                values.Add(reader.ReadUInt64());
            }

            reader.ReadEndArray();
            return [.. values];
        }
    }
}
