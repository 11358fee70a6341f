using System.Security.Cryptography;
using System.Text;
using NitroEnclave.Envelope;

namespace NitroEnclave.Tests.Envelope;

/// <summary>
/// A KMS stand-in for tests: data keys are wrapped with AES-GCM under a master key, bound to the serialized encryption
/// context like KMS binds them, so a changed context or another master key fails to unwrap (KmsInvalidCiphertext).
/// </summary>
internal sealed class InMemoryKeyProvider(byte[]? masterKey = null, string keyArn = InMemoryKeyProvider.DefaultArn) : IDataKeyProvider
{
    public const string DefaultArn = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";

    private readonly byte[] _masterKey = masterKey ?? RandomNumberGenerator.GetBytes(32);

    public int GenerateCalls { get; private set; }

    public int DecryptCalls { get; private set; }

    public IReadOnlyDictionary<string, string>? LastGenerateContext { get; private set; }

    public byte[]? LastDataKey { get; private set; }

    public Task<GeneratedDataKey> GenerateDataKeyAsync(string keyId, int keyLength, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        GenerateCalls++;
        LastGenerateContext = new Dictionary<string, string>(encryptionContext);
        var dataKey = RandomNumberGenerator.GetBytes(keyLength);
        LastDataKey = (byte[])dataKey.Clone();
        return Task.FromResult(new GeneratedDataKey(dataKey, new EncryptedDataKey("aws-kms", Encoding.UTF8.GetBytes(keyArn), Wrap(dataKey, encryptionContext)), keyArn));
    }

    public Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        DecryptCalls++;
        if (encryptedDataKey.ProviderId != "aws-kms" || encryptedDataKey.Ciphertext.Length < 28)
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidCiphertext, ErrorKind.InvalidData, "Not a ciphertext of this provider.");
        }

        var blob = encryptedDataKey.Ciphertext;
        var key = new byte[blob.Length - 28];
        try
        {
            using var aes = new AesGcm(_masterKey, 16);
            aes.Decrypt(blob.AsSpan(0, 12), blob.AsSpan(12, key.Length), blob.AsSpan(12 + key.Length), key, EncryptionContextSerializer.Serialize(encryptionContext));
            return Task.FromResult(key);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidCiphertext, ErrorKind.InvalidData, "The ciphertext or its encryption context is wrong.");
        }
    }

    /// <summary>Wraps a chosen data key, for messages built by the test writer.</summary>
    public EncryptedDataKey Wrap(byte[] dataKey, IReadOnlyDictionary<string, string> context, string providerId = "aws-kms") =>
        new(providerId, Encoding.UTF8.GetBytes(keyArn), Wrap(dataKey, context));

    private byte[] Wrap(byte[] dataKey, IReadOnlyDictionary<string, string> context)
    {
        var blob = new byte[12 + dataKey.Length + 16];
        RandomNumberGenerator.Fill(blob.AsSpan(0, 12));
        using var aes = new AesGcm(_masterKey, 16);
        aes.Encrypt(blob.AsSpan(0, 12), dataKey, blob.AsSpan(12, dataKey.Length), blob.AsSpan(12 + dataKey.Length), EncryptionContextSerializer.Serialize(context));
        return blob;
    }
}

/// <summary>Returns one known data key for any encrypted data key (for published vectors made with a static keyring).</summary>
internal sealed class StaticKeyDecryptor(byte[] dataKey) : IDataKeyDecryptor
{
    public Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken) =>
        Task.FromResult((byte[])dataKey.Clone());
}
