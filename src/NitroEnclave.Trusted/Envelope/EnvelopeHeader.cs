using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace NitroEnclave.Envelope;

/// <summary>How the body of a message is laid out (data-format/message-body.md).</summary>
public enum EnvelopeContentType
{
    NonFramed = 1,
    Framed = 2,
}

/// <summary>
/// A parsed AWS Encryption SDK message header (data-format/message-header.md, versions 1 and 2). Released to callers
/// only once its authentication tag has been verified.
/// </summary>
public sealed class EnvelopeHeader
{
    internal EnvelopeHeader(
        int version,
        AlgorithmSuite suite,
        byte[] messageId,
        IReadOnlyDictionary<string, string> encryptionContext,
        IReadOnlyList<EncryptedDataKey> encryptedDataKeys,
        EnvelopeContentType contentType,
        uint frameLength,
        byte[] body,
        byte[] authentication)
    {
        Version = version;
        Suite = suite;
        MessageId = messageId;
        EncryptionContext = encryptionContext;
        EncryptedDataKeys = encryptedDataKeys;
        ContentType = contentType;
        FrameLength = frameLength;
        Body = body;
        Authentication = authentication;
    }

    /// <summary>Message format version: 1 or 2.</summary>
    public int Version { get; }

    public AlgorithmSuite Suite { get; }

    /// <summary>16 bytes in version 1, 32 in version 2.</summary>
    public byte[] MessageId { get; }

    public IReadOnlyDictionary<string, string> EncryptionContext { get; }

    public IReadOnlyList<EncryptedDataKey> EncryptedDataKeys { get; }

    public EnvelopeContentType ContentType { get; }

    /// <summary>Plaintext bytes per regular frame; 0 for non-framed bodies.</summary>
    public uint FrameLength { get; }

    /// <summary>The serialized header body: the additional authenticated data of the header tag.</summary>
    internal byte[] Body { get; }

    /// <summary>The serialized header authentication: IV and tag in version 1, the tag alone in version 2.</summary>
    internal byte[] Authentication { get; }

    internal ReadOnlySpan<byte> Tag => Authentication.AsSpan(Authentication.Length - AlgorithmSuite.TagLength);

    /// <summary>The IV of the header tag: stored in version 1, all zero in version 2.</summary>
    internal ReadOnlySpan<byte> HeaderIv => Version == 1 ? Authentication.AsSpan(0, AlgorithmSuite.IvLength) : new byte[AlgorithmSuite.IvLength];

    /// <summary>The commit key stored as algorithm suite data (version 2), or empty.</summary>
    internal ReadOnlySpan<byte> CommitKey => Suite.IsCommitting ? Body.AsSpan(Body.Length - AlgorithmSuite.CommitKeyLength) : [];

    internal int Length => Body.Length + Authentication.Length;

    /// <summary>Serializes a version 2 framed header body (client-apis/encrypt.md, "Construct the header").</summary>
    internal static byte[] SerializeV2Body(AlgorithmSuite suite, ReadOnlySpan<byte> messageId, byte[] serializedContext, EncryptedDataKey edk, uint frameLength, ReadOnlySpan<byte> commitKey)
    {
        var providerId = Encoding.UTF8.GetBytes(edk.ProviderId);
        CheckFieldLength(providerId.Length, "key provider id");
        CheckFieldLength(edk.ProviderInfo.Length, "key provider information");
        CheckFieldLength(edk.Ciphertext.Length, "encrypted data key");
        var writer = new ArrayBufferWriter<byte>(256 + serializedContext.Length + edk.Ciphertext.Length);
        WriteByte(writer, 2);
        WriteUInt16(writer, suite.Id);
        writer.Write(messageId);
        WriteUInt16(writer, (ushort)serializedContext.Length);
        writer.Write(serializedContext);
        WriteUInt16(writer, 1);
        WriteField(writer, providerId);
        WriteField(writer, edk.ProviderInfo);
        WriteField(writer, edk.Ciphertext);
        WriteByte(writer, (byte)EnvelopeContentType.Framed);
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(4), frameLength);
        writer.Advance(4);
        writer.Write(commitKey);
        return writer.WrittenSpan.ToArray();
    }

    internal static async Task<EnvelopeHeader> ReadAsync(MessageInput input, EnvelopeDecryptOptions options, CancellationToken cancellationToken)
    {
        var body = new ArrayBufferWriter<byte>(512);
        var first = await input.ReadAsync(body, 2, cancellationToken).ConfigureAwait(false);
        var version = first[0];
        if (version is not (1 or 2))
        {
            var hint = first[0] == 'A' && first[1] is (byte)'Y' or (byte)'g' ? " It looks base64-encoded: decode it first." : string.Empty;
            throw EnvelopeErrors.Invalid(EnvelopeErrors.UnsupportedVersion, $"The message format version 0x{version:X2} is not supported (versions 1 and 2 are).{hint}");
        }

        ushort suiteId;
        if (version == 1)
        {
            if (first[1] != 0x80)
            {
                throw Malformed($"the message type is 0x{first[1]:X2}, version 1 has only 0x80");
            }

            suiteId = BinaryPrimitives.ReadUInt16BigEndian(await input.ReadAsync(body, 2, cancellationToken).ConfigureAwait(false));
        }
        else
        {
            suiteId = (ushort)((first[1] << 8) | (await input.ReadAsync(body, 1, cancellationToken).ConfigureAwait(false))[0]);
        }

        var suite = AlgorithmSuite.TryGet(suiteId)
            ?? throw EnvelopeErrors.Invalid(EnvelopeErrors.UnsupportedSuite, $"Algorithm suite 0x{suiteId:X4} is not a supported AES-GCM suite.");
        if (suite.MessageFormatVersion != version)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.UnsupportedSuite, $"Algorithm suite {suite.IdHex} belongs to message format version {suite.MessageFormatVersion}, not {version}.");
        }

        var messageId = (await input.ReadAsync(body, version == 1 ? 16 : 32, cancellationToken).ConfigureAwait(false));

        var contextLength = await ReadUInt16Async(input, body, cancellationToken).ConfigureAwait(false);
        if (contextLength > options.MaxEncryptionContextBytes)
        {
            throw Limit($"the encryption context is {contextLength} bytes, the limit is {options.MaxEncryptionContextBytes}");
        }

        var context = EncryptionContextSerializer.Deserialize((await input.ReadAsync(body, contextLength, cancellationToken).ConfigureAwait(false)));

        var edkCount = await ReadUInt16Async(input, body, cancellationToken).ConfigureAwait(false);
        if (edkCount == 0)
        {
            throw Malformed("it has no encrypted data key");
        }

        if (edkCount > options.MaxEncryptedDataKeys)
        {
            throw Limit($"it has {edkCount} encrypted data keys, the limit is {options.MaxEncryptedDataKeys}");
        }

        var edks = new List<EncryptedDataKey>(edkCount);
        for (var i = 0; i < edkCount; i++)
        {
            var providerId = await ReadFieldAsync(input, body, cancellationToken).ConfigureAwait(false);
            var providerInfo = await ReadFieldAsync(input, body, cancellationToken).ConfigureAwait(false);
            var ciphertext = await ReadFieldAsync(input, body, cancellationToken).ConfigureAwait(false);
            string providerName;
            try
            {
                providerName = new UTF8Encoding(false, true).GetString(providerId);
            }
            catch (DecoderFallbackException)
            {
                throw Malformed("a key provider id is not valid UTF-8");
            }

            edks.Add(new EncryptedDataKey(providerName, providerInfo, ciphertext));
        }

        var contentType = (await input.ReadAsync(body, 1, cancellationToken).ConfigureAwait(false))[0];
        if (contentType is not (1 or 2))
        {
            throw Malformed($"the content type is 0x{contentType:X2}; 0x01 (non-framed) and 0x02 (framed) exist");
        }

        if (version == 1)
        {
            var reserved = await input.ReadAsync(body, 4, cancellationToken).ConfigureAwait(false);
            if (BinaryPrimitives.ReadUInt32BigEndian(reserved) != 0)
            {
                throw Malformed("the reserved field is not zero");
            }

            var ivLength = (await input.ReadAsync(body, 1, cancellationToken).ConfigureAwait(false))[0];
            if (ivLength != AlgorithmSuite.IvLength)
            {
                throw Malformed($"the IV length is {ivLength}, the suite's is {AlgorithmSuite.IvLength}");
            }
        }

        var frameLength = BinaryPrimitives.ReadUInt32BigEndian((await input.ReadAsync(body, 4, cancellationToken).ConfigureAwait(false)));
        if (contentType == (byte)EnvelopeContentType.NonFramed && frameLength != 0)
        {
            throw Malformed($"a non-framed message declares a frame length of {frameLength}");
        }

        if (contentType == (byte)EnvelopeContentType.Framed && frameLength == 0)
        {
            throw Malformed("a framed message declares a frame length of 0");
        }

        if (frameLength > options.MaxFrameLength)
        {
            throw Limit($"the frame length is {frameLength} bytes, the limit is {options.MaxFrameLength}");
        }

        if (suite.SuiteDataLength > 0)
        {
            await input.ReadAsync(body, suite.SuiteDataLength, cancellationToken).ConfigureAwait(false);
        }

        var authentication = new ArrayBufferWriter<byte>(AlgorithmSuite.IvLength + AlgorithmSuite.TagLength);
        await input.ReadAsync(authentication, version == 1 ? AlgorithmSuite.IvLength + AlgorithmSuite.TagLength : AlgorithmSuite.TagLength, cancellationToken).ConfigureAwait(false);

        return new EnvelopeHeader(version, suite, messageId, context, edks, (EnvelopeContentType)contentType, frameLength, body.WrittenSpan.ToArray(), authentication.WrittenSpan.ToArray());
    }

    private static async ValueTask<ushort> ReadUInt16Async(MessageInput input, ArrayBufferWriter<byte> body, CancellationToken cancellationToken) =>
        BinaryPrimitives.ReadUInt16BigEndian((await input.ReadAsync(body, 2, cancellationToken).ConfigureAwait(false)));

    private static async ValueTask<byte[]> ReadFieldAsync(MessageInput input, ArrayBufferWriter<byte> body, CancellationToken cancellationToken)
    {
        var length = await ReadUInt16Async(input, body, cancellationToken).ConfigureAwait(false);
        return (await input.ReadAsync(body, length, cancellationToken).ConfigureAwait(false));
    }

    private static void CheckFieldLength(int length, string what)
    {
        if (length > ushort.MaxValue)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.InvalidOption, $"The {what} is {length} bytes; the format allows {ushort.MaxValue}.");
        }
    }

    private static void WriteByte(ArrayBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteUInt16(ArrayBufferWriter<byte> writer, ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(writer.GetSpan(2), value);
        writer.Advance(2);
    }

    private static void WriteField(ArrayBufferWriter<byte> writer, ReadOnlySpan<byte> field)
    {
        WriteUInt16(writer, (ushort)field.Length);
        writer.Write(field);
    }

    private static NitroEnclaveException Malformed(string reason) =>
        EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The message header is malformed: {reason}.");

    private static NitroEnclaveException Limit(string reason) =>
        EnvelopeErrors.Invalid(EnvelopeErrors.LimitExceeded, $"The message exceeds a decryption limit: {reason}.");
}
