using System.Security.Cryptography;
using System.Text;

namespace NitroEnclave.LocalKms.Keys;

/// <summary>
/// The key that protects every secret the endpoint stores (KMS key material, principals' secret keys): a random
/// 256-bit key in master.key (owner-only), used with AES-256-GCM. Each wrapped value is bound to its purpose
/// (for example the key id), so values cannot be swapped between records.
/// </summary>
internal sealed class MasterKey
{
    public const string FileName = "master.key";
    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly byte[] _key;

    private MasterKey(byte[] key) => _key = key;

    public static MasterKey LoadOrCreate(string dataPath)
    {
        var path = Path.Combine(dataPath, FileName);
        if (File.Exists(path))
        {
            var existing = File.ReadAllBytes(path);
            if (existing.Length != KeySize)
            {
                throw new InvalidDataException($"{path} is not a {KeySize}-byte master key.");
            }

            return new MasterKey(existing);
        }

        var key = RandomNumberGenerator.GetBytes(KeySize);
        AtomicFile.Write(path, key);
        return new MasterKey(key);
    }

    public byte[] Wrap(ReadOnlySpan<byte> secret, string purpose)
    {
        var wrapped = new byte[NonceSize + secret.Length + TagSize];
        var nonce = wrapped.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, secret, wrapped.AsSpan(NonceSize, secret.Length), wrapped.AsSpan(NonceSize + secret.Length), Encoding.UTF8.GetBytes(purpose));
        return wrapped;
    }

    /// <summary>A key for one purpose (for example signing web identity tokens), derived so the master key itself never leaves this class.</summary>
    public byte[] DeriveKey(string purpose) => HKDF.Expand(HashAlgorithmName.SHA256, _key, KeySize, Encoding.UTF8.GetBytes(purpose));

    public byte[] Unwrap(byte[] wrapped, string purpose)
    {
        if (wrapped.Length < NonceSize + TagSize)
        {
            throw new InvalidDataException($"The stored secret for {purpose} is truncated.");
        }

        var secret = new byte[wrapped.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(wrapped.AsSpan(0, NonceSize), wrapped.AsSpan(NonceSize, secret.Length), wrapped.AsSpan(NonceSize + secret.Length), secret, Encoding.UTF8.GetBytes(purpose));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new InvalidDataException($"The stored secret for {purpose} does not open with {FileName}: wrong master key or damaged data.", ex);
        }

        return secret;
    }
}
