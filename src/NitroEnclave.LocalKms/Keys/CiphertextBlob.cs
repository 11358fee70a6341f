using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Keys;

/// <summary>
/// The ciphertext blobs this endpoint issues: version (1), key id (36 ASCII characters), 12-byte nonce, AES-256-GCM
/// ciphertext and 16-byte tag. The version and key id and the canonical encryption context are the additional
/// authenticated data, so a blob opens only with its own key and the exact same context.
/// </summary>
internal static class CiphertextBlob
{
    private const byte Version = 1;
    private const int KeyIdLength = 36;
    private const int HeaderLength = 1 + KeyIdLength;
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public static byte[] Seal(string keyId, byte[] material, ReadOnlySpan<byte> plaintext, IReadOnlyDictionary<string, string>? context)
    {
        var blob = new byte[HeaderLength + NonceSize + plaintext.Length + TagSize];
        blob[0] = Version;
        Encoding.ASCII.GetBytes(keyId, blob.AsSpan(1, KeyIdLength));
        var nonce = blob.AsSpan(HeaderLength, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(material, TagSize);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(HeaderLength + NonceSize, plaintext.Length), blob.AsSpan(blob.Length - TagSize),
            AdditionalData(blob.AsSpan(0, HeaderLength), context));
        return blob;
    }

    /// <summary>The key id a blob names, without opening it; null when the blob is not one of ours.</summary>
    public static string? ReadKeyId(byte[] blob)
    {
        if (blob.Length < HeaderLength + NonceSize + TagSize || blob[0] != Version)
        {
            return null;
        }

        var keyId = Encoding.ASCII.GetString(blob, 1, KeyIdLength);
        return Guid.TryParseExact(keyId, "D", out _) ? keyId : null;
    }

    public static byte[] Open(byte[] material, byte[] blob, IReadOnlyDictionary<string, string>? context)
    {
        var plaintext = new byte[blob.Length - HeaderLength - NonceSize - TagSize];
        using var aes = new AesGcm(material, TagSize);
        try
        {
            aes.Decrypt(blob.AsSpan(HeaderLength, NonceSize), blob.AsSpan(HeaderLength + NonceSize, plaintext.Length), blob.AsSpan(blob.Length - TagSize), plaintext,
                AdditionalData(blob.AsSpan(0, HeaderLength), context));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw KmsFault.InvalidCiphertext();
        }

        return plaintext;
    }

    /// <summary>Header, then each context pair sorted by key (ordinal), each string length-prefixed: unambiguous and order-free.</summary>
    private static byte[] AdditionalData(ReadOnlySpan<byte> header, IReadOnlyDictionary<string, string>? context)
    {
        using var buffer = new MemoryStream();
        buffer.Write(header);
        foreach (var (name, value) in (context ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            WriteString(buffer, name);
            WriteString(buffer, value);
        }

        return buffer.ToArray();
    }

    private static void WriteString(MemoryStream buffer, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        buffer.Write(length);
        buffer.Write(bytes);
    }
}
