using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NitroEnclave.Envelope;

namespace NitroEnclave.Tests.Envelope;

/// <summary>
/// An independent writer of AWS Encryption SDK messages, built straight from the layout tables of the specification
/// (message-header.md, message-body.md, message-body-aad.md, message-footer.md), for the variants the production writer
/// never produces: version 1 headers, every AES-GCM suite, non-framed bodies, empty final frames.
/// </summary>
internal static class TestMessageWriter
{
    public static byte[] Write(
        ushort suiteId,
        byte[] dataKey,
        IReadOnlyDictionary<string, string> context,
        Func<IReadOnlyDictionary<string, string>, EncryptedDataKey> wrap,
        byte[] plaintext,
        int frameLength,
        bool emptyFinalFrame = false)
    {
        var suite = AlgorithmSuite.Get(suiteId);
        var version = suite.IsCommitting ? 2 : 1;
        var fullContext = new Dictionary<string, string>(context, StringComparer.Ordinal);
        using var signer = suite.IsSigned ? ECDsa.Create(suite.SignatureCurve!.Value) : null;
        if (signer is not null)
        {
            var q = signer.ExportParameters(false).Q;
            var point = new byte[1 + q.X!.Length];
            point[0] = (byte)(2 + (q.Y![^1] & 1));
            q.X.CopyTo(point, 1);
            fullContext["aws-crypto-public-key"] = Convert.ToBase64String(point);
        }

        var edk = wrap(fullContext);
        var messageId = RandomNumberGenerator.GetBytes(version == 1 ? 16 : 32);
        var suiteBytes = new[] { (byte)(suiteId >> 8), (byte)suiteId };
        byte[] key;
        byte[]? commitKey = null;
        if (version == 2)
        {
            var prk = HKDF.Extract(HashAlgorithmName.SHA512, dataKey, messageId);
            key = HKDF.Expand(HashAlgorithmName.SHA512, prk, 32, [.. suiteBytes, .. "DERIVEKEY"u8]);
            commitKey = HKDF.Expand(HashAlgorithmName.SHA512, prk, 32, "COMMITKEY"u8.ToArray());
        }
        else if (suite.Derivation == KeyDerivation.Identity)
        {
            key = dataKey;
        }
        else
        {
            var hash = suite.Derivation == KeyDerivation.HkdfSha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384;
            key = HKDF.DeriveKey(hash, dataKey, suite.KeyLength, [], [.. suiteBytes, .. messageId]);
        }

        var header = new List<byte> { (byte)version };
        if (version == 1)
        {
            header.Add(0x80);
        }

        header.AddRange(suiteBytes);
        header.AddRange(messageId);
        var pairs = SerializeContext(fullContext);
        AddU16(header, pairs.Length);
        header.AddRange(pairs);
        AddU16(header, 1);
        AddField(header, Encoding.UTF8.GetBytes(edk.ProviderId));
        AddField(header, edk.ProviderInfo);
        AddField(header, edk.Ciphertext);
        header.Add(frameLength == 0 ? (byte)1 : (byte)2);
        if (version == 1)
        {
            header.AddRange(new byte[4]);
            header.Add(12);
        }

        AddU32(header, (uint)frameLength);
        if (commitKey is not null)
        {
            header.AddRange(commitKey);
        }

        using var aes = new AesGcm(key, 16);
        var headerIv = new byte[12];
        var headerTag = new byte[16];
        aes.Encrypt(headerIv, Array.Empty<byte>(), Array.Empty<byte>(), headerTag, header.ToArray());
        var message = new List<byte>(header);
        if (version == 1)
        {
            message.AddRange(headerIv);
        }

        message.AddRange(headerTag);

        if (frameLength == 0)
        {
            var iv = Iv(1);
            message.AddRange(iv);
            AddU64(message, (ulong)plaintext.Length);
            message.AddRange(Seal(aes, iv, plaintext, BodyAad(messageId, "AWSKMSEncryptionClient Single Block", 1, plaintext.Length)));
        }
        else
        {
            uint sequence = 1;
            var offset = 0;
            while (plaintext.Length - offset > frameLength || (plaintext.Length - offset == frameLength && emptyFinalFrame))
            {
                var iv = Iv(sequence);
                AddU32(message, sequence);
                message.AddRange(iv);
                message.AddRange(Seal(aes, iv, plaintext.AsSpan(offset, frameLength).ToArray(), BodyAad(messageId, "AWSKMSEncryptionClient Frame", sequence, frameLength)));
                offset += frameLength;
                sequence++;
            }

            var rest = plaintext.AsSpan(offset).ToArray();
            var finalIv = Iv(sequence);
            AddU32(message, 0xFFFFFFFF);
            AddU32(message, sequence);
            message.AddRange(finalIv);
            AddU32(message, (uint)rest.Length);
            message.AddRange(Seal(aes, finalIv, rest, BodyAad(messageId, "AWSKMSEncryptionClient Final Frame", sequence, rest.Length)));
        }

        if (signer is not null)
        {
            var signature = signer.SignData(message.ToArray(), suite.SignatureHash, DSASignatureFormat.Rfc3279DerSequence);
            AddU16(message, signature.Length);
            message.AddRange(signature);
        }

        return [.. message];
    }

    /// <summary>Key/value pairs sorted by the UTF-8 bytes of their keys, each length-prefixed.</summary>
    public static byte[] SerializeContext(IReadOnlyDictionary<string, string> context)
    {
        if (context.Count == 0)
        {
            return [];
        }

        var output = new List<byte>();
        AddU16(output, context.Count);
        foreach (var (key, value) in context.Select(p => (Encoding.UTF8.GetBytes(p.Key), Encoding.UTF8.GetBytes(p.Value))).OrderBy(p => p.Item1, ByteOrder.Instance))
        {
            AddField(output, key);
            AddField(output, value);
        }

        return [.. output];
    }

    private static byte[] Seal(AesGcm aes, byte[] iv, byte[] plaintext, byte[] aad)
    {
        var output = new byte[plaintext.Length + 16];
        aes.Encrypt(iv, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), aad);
        return output;
    }

    private static byte[] BodyAad(byte[] messageId, string content, uint sequence, long length)
    {
        var aad = new List<byte>(messageId);
        aad.AddRange(Encoding.UTF8.GetBytes(content));
        AddU32(aad, sequence);
        AddU64(aad, (ulong)length);
        return [.. aad];
    }

    private static byte[] Iv(uint sequence)
    {
        var iv = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(iv.AsSpan(8), sequence);
        return iv;
    }

    private static void AddField(List<byte> output, byte[] field)
    {
        AddU16(output, field.Length);
        output.AddRange(field);
    }

    private static void AddU16(List<byte> output, int value) => output.AddRange([(byte)(value >> 8), (byte)value]);

    private static void AddU32(List<byte> output, uint value) => output.AddRange([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);

    private static void AddU64(List<byte> output, ulong value)
    {
        AddU32(output, (uint)(value >> 32));
        AddU32(output, (uint)value);
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
