namespace NitroEnclave.Envelope;

/// <summary>An encrypted data key as stored in a message header (framework/structures.md).</summary>
public sealed class EncryptedDataKey
{
    public EncryptedDataKey(string providerId, byte[] providerInfo, byte[] ciphertext)
    {
        ArgumentNullException.ThrowIfNull(providerId);
        ArgumentNullException.ThrowIfNull(providerInfo);
        ArgumentNullException.ThrowIfNull(ciphertext);
        ProviderId = providerId;
        ProviderInfo = providerInfo;
        Ciphertext = ciphertext;
    }

    /// <summary>Who can decrypt this key: "aws-kms" for KMS.</summary>
    public string ProviderId { get; }

    /// <summary>Provider specific: for KMS, the UTF-8 ARN of the KMS key.</summary>
    public byte[] ProviderInfo { get; }

    /// <summary>The encrypted key, for KMS the CiphertextBlob.</summary>
    public byte[] Ciphertext { get; }

    public string ProviderInfoText => System.Text.Encoding.UTF8.GetString(ProviderInfo);
}

/// <summary>
/// A fresh data key: the plaintext (zero it with <see cref="Dispose"/> once used) and its encrypted form.
/// </summary>
public sealed class GeneratedDataKey : IDisposable
{
    public GeneratedDataKey(byte[] plaintext, EncryptedDataKey encrypted, string keyArn)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(encrypted);
        Plaintext = plaintext;
        Encrypted = encrypted;
        KeyArn = keyArn;
    }

    public byte[] Plaintext { get; }

    public EncryptedDataKey Encrypted { get; }

    /// <summary>The full ARN of the key that encrypted the data key.</summary>
    public string KeyArn { get; }

    public void Dispose() => System.Security.Cryptography.CryptographicOperations.ZeroMemory(Plaintext);
}

/// <summary>
/// Turns an encrypted data key back into its plaintext. KMS from the parent, KMS with an attestation document
/// (Recipient) inside the enclave, or an in-memory key in tests. Failures are NitroEnclaveExceptions; messages never
/// carry key material. The caller zeroes the returned bytes.
/// </summary>
public interface IDataKeyDecryptor
{
    Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken);
}

/// <summary>Creates data keys for encryption: KMS from the parent, or KMS with Recipient inside the enclave.</summary>
public interface IDataKeyGenerator
{
    /// <summary>Generates a data key of <paramref name="keyLength"/> bytes under <paramref name="keyId"/>, bound to the context.</summary>
    Task<GeneratedDataKey> GenerateDataKeyAsync(string keyId, int keyLength, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken);
}

/// <summary>Creates data keys for encryption and decrypts them again.</summary>
public interface IDataKeyProvider : IDataKeyDecryptor, IDataKeyGenerator
{
}
