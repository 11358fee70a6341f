using System.Buffers.Binary;
using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>
/// The keys of one message, derived from its data key (framework/transitive-requirements.md): the AES-GCM key and,
/// for committing suites, the commit key stored in the header. Disposing zeroes both.
/// </summary>
internal sealed class MessageKeys : IDisposable
{
    private static readonly byte[] DeriveKeyLabel = "DERIVEKEY"u8.ToArray();
    private static readonly byte[] CommitKeyLabel = "COMMITKEY"u8.ToArray();

    private MessageKeys(byte[] encryptionKey, byte[]? commitKey)
    {
        EncryptionKey = encryptionKey;
        CommitKey = commitKey;
        Aes = new AesGcm(encryptionKey, AlgorithmSuite.TagLength);
    }

    public byte[] EncryptionKey { get; }

    public byte[]? CommitKey { get; }

    public AesGcm Aes { get; }

    public static MessageKeys Derive(AlgorithmSuite suite, ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> messageId)
    {
        if (dataKey.Length != suite.KeyLength)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.DataKeyInvalid, $"The data key is {dataKey.Length} bytes; suite {suite.IdHex} needs {suite.KeyLength}.");
        }

        Span<byte> suiteId = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(suiteId, suite.Id);
        switch (suite.Derivation)
        {
            case KeyDerivation.Identity:
                return new MessageKeys(dataKey.ToArray(), null);
            case KeyDerivation.HkdfSha256:
            case KeyDerivation.HkdfSha384:
                {
                    var hash = suite.Derivation == KeyDerivation.HkdfSha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384;
                    var info = Concat(suiteId, messageId);
                    var key = new byte[suite.KeyLength];
                    HKDF.DeriveKey(hash, dataKey, key, salt: [], info);
                    return new MessageKeys(key, null);
                }

            default:
                {
                    // One extract with the message id as salt, two expands (the spec allows sharing the extract step).
                    var prk = new byte[64];
                    try
                    {
                        HKDF.Extract(HashAlgorithmName.SHA512, dataKey, messageId, prk);
                        var key = new byte[suite.KeyLength];
                        HKDF.Expand(HashAlgorithmName.SHA512, prk, key, Concat(suiteId, DeriveKeyLabel));
                        var commitKey = new byte[AlgorithmSuite.CommitKeyLength];
                        HKDF.Expand(HashAlgorithmName.SHA512, prk, commitKey, CommitKeyLabel);
                        return new MessageKeys(key, commitKey);
                    }
                    finally
                    {
                        CryptographicOperations.ZeroMemory(prk);
                    }
                }
        }
    }

    /// <summary>The IV of a frame: its sequence number, big-endian, in the last 4 of 12 bytes.</summary>
    public static void FrameIv(uint sequenceNumber, Span<byte> iv)
    {
        iv[..8].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(iv[8..], sequenceNumber);
    }

    public void Dispose()
    {
        Aes.Dispose();
        CryptographicOperations.ZeroMemory(EncryptionKey);
        if (CommitKey is not null)
        {
            CryptographicOperations.ZeroMemory(CommitKey);
        }
    }

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var result = new byte[a.Length + b.Length];
        a.CopyTo(result);
        b.CopyTo(result.AsSpan(a.Length));
        return result;
    }
}

/// <summary>The additional authenticated data of body frames (data-format/message-body-aad.md).</summary>
internal sealed class BodyAad
{
    public const string RegularFrame = "AWSKMSEncryptionClient Frame";
    public const string FinalFrame = "AWSKMSEncryptionClient Final Frame";
    public const string SingleBlock = "AWSKMSEncryptionClient Single Block";

    private readonly byte[] _regular;
    private readonly byte[] _final;
    private readonly byte[] _single;

    public BodyAad(ReadOnlySpan<byte> messageId)
    {
        _regular = Template(messageId, RegularFrame);
        _final = Template(messageId, FinalFrame);
        _single = Template(messageId, SingleBlock);
    }

    /// <summary>Fills in the sequence number and plaintext length; the returned buffer is reused by the next call.</summary>
    public ReadOnlySpan<byte> For(string kind, uint sequenceNumber, ulong contentLength)
    {
        var buffer = kind switch
        {
            RegularFrame => _regular,
            FinalFrame => _final,
            _ => _single,
        };
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(buffer.Length - 12), sequenceNumber);
        BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(buffer.Length - 8), contentLength);
        return buffer;
    }

    private static byte[] Template(ReadOnlySpan<byte> messageId, string content)
    {
        var text = System.Text.Encoding.UTF8.GetBytes(content);
        var buffer = new byte[messageId.Length + text.Length + 12];
        messageId.CopyTo(buffer);
        text.CopyTo(buffer, messageId.Length);
        return buffer;
    }
}
