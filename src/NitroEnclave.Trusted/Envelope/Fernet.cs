using System.Buffers.Binary;
using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>
/// Fernet (version 0x80) token verification and decryption, as written by the reference sample: token =
/// base64url(0x80 || u64 BE timestamp || 16-byte IV || AES-128-CBC PKCS#7 ciphertext || HMAC-SHA256 of all before),
/// key = 16-byte signing key || 16-byte encryption key. The HMAC is checked, in constant time, before decrypting.
/// </summary>
public static class Fernet
{
    public const int KeyLength = 32;
    private const byte Version = 0x80;
    private const int HeaderLength = 1 + 8 + 16;
    private const int MacLength = 32;
    private static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(60);

    /// <summary>Decodes a key given as text in the standard or the URL-safe base64 alphabet (the sample used standard).</summary>
    public static byte[] ParseKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = DecodeBase64Any(key.Trim());
        if (bytes is null || bytes.Length != KeyLength)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.FernetInvalidKey, $"A Fernet key is {KeyLength} bytes in base64 (either alphabet).");
        }

        return bytes;
    }

    /// <summary>
    /// Verifies and decrypts a token. With <paramref name="timeToLive"/>, a token older than that at
    /// <paramref name="now"/> is FernetTokenExpired and one stamped more than 60 s in the future is invalid (the
    /// specification's age check with the usual clock-skew allowance); without it, the timestamp is not checked.
    /// </summary>
    public static byte[] Decrypt(string token, ReadOnlySpan<byte> key, TimeSpan? timeToLive = null, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (key.Length != KeyLength)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.FernetInvalidKey, $"A Fernet key is {KeyLength} bytes, not {key.Length}.");
        }

        var data = DecodeBase64Url(token.AsSpan().TrimEnd("\r\n ")) ?? throw Invalid("it is not base64url text");
        try
        {
            if (data.Length < HeaderLength + 16 + MacLength || (data.Length - HeaderLength - MacLength) % 16 != 0)
            {
                throw Invalid($"its {data.Length} bytes are not a whole number of AES blocks plus the Fernet fields");
            }

            if (data[0] != Version)
            {
                throw Invalid($"its version byte is 0x{data[0]:X2}, not 0x80");
            }

            Span<byte> mac = stackalloc byte[MacLength];
            HMACSHA256.HashData(key[..16], data.AsSpan(0, data.Length - MacLength), mac);
            if (!CryptographicOperations.FixedTimeEquals(mac, data.AsSpan(data.Length - MacLength)))
            {
                throw Invalid("its HMAC does not verify (wrong key or altered token)");
            }

            var timestamp = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(1)), (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
            if (timeToLive is { } ttl)
            {
                var current = now ?? DateTimeOffset.UtcNow;
                if (timestamp + ttl < current)
                {
                    throw new NitroEnclaveException(EnvelopeErrors.FernetTokenExpired, ErrorKind.InvalidData, $"The Fernet token was made at {timestamp:u}, more than {ttl} before {current:u}.");
                }

                if (timestamp > current + MaxClockSkew)
                {
                    throw Invalid($"its timestamp {timestamp:u} is in the future");
                }
            }

            using var aes = Aes.Create();
            aes.Key = key[16..].ToArray();
            try
            {
                return aes.DecryptCbc(data.AsSpan(HeaderLength, data.Length - HeaderLength - MacLength), data.AsSpan(9, 16), PaddingMode.PKCS7);
            }
            catch (CryptographicException)
            {
                throw Invalid("its padding is wrong");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    /// <summary>The timestamp stored in a token, without verifying it.</summary>
    public static DateTimeOffset? ReadTimestamp(string token)
    {
        var data = DecodeBase64Url(token);
        return data is { Length: >= 9 } ? DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(1)), 253402300799)) : null;
    }

    internal static byte[]? DecodeBase64Url(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '='))
            {
                return null;
            }
        }

        return DecodeBase64Any(text.ToString());
    }

    private static byte[]? DecodeBase64Any(string text)
    {
        var standard = text.Replace('-', '+').Replace('_', '/').TrimEnd('=');
        if (standard.Length % 4 == 1)
        {
            return null;
        }

        standard = standard.PadRight(standard.Length + ((4 - (standard.Length % 4)) % 4), '=');
        try
        {
            return Convert.FromBase64String(standard);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static NitroEnclaveException Invalid(string reason) =>
        new(EnvelopeErrors.FernetInvalidToken, ErrorKind.SecurityError, $"The Fernet token is invalid: {reason}.");
}
