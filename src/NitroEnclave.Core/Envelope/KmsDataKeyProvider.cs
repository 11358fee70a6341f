using System.Security.Cryptography;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Aws;

namespace NitroEnclave.Envelope;

/// <summary>
/// Data keys from AWS KMS, compatible with the official SDKs' KMS keyring: provider id "aws-kms", provider information
/// = the key ARN, GenerateDataKey and Decrypt with the message's encryption context. Errors map to stable ids and
/// never carry key material.
/// </summary>
public sealed class KmsDataKeyProvider : IDataKeyProvider, IDisposable
{
    private readonly IAmazonKeyManagementService _client;
    private readonly bool _ownsClient;
    private readonly KmsCallOptions _options;

    public KmsDataKeyProvider(IAmazonKeyManagementService client, bool ownsClient = false, KmsCallOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _ownsClient = ownsClient;
        _options = options ?? new KmsCallOptions();
    }

    /// <summary>
    /// A provider with its own KMS client, built from plain settings (the cmdlets cannot hold AWS SDK types);
    /// <paramref name="trace"/> hears of each request (<see cref="AwsRequestTrace"/>).
    /// </summary>
    /// <param name="settings">How to reach KMS; its timeout bounds each call.</param>
    /// <param name="trace">Hears of each request.</param>
    /// <param name="grantTokens">Grant tokens for GenerateDataKey and Decrypt (-GrantToken).</param>
    public static KmsDataKeyProvider Create(AwsConnectionSettings settings, Action<string>? trace = null, IReadOnlyList<string>? grantTokens = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var client = AwsClientFactory.CreateKmsClient(settings, out var credentials);
        if (trace is not null)
        {
            AwsRequestTrace.Attach(client, trace);
        }

        return new(client, ownsClient: true, new KmsCallOptions { Timeout = settings.Timeout, GrantTokens = grantTokens ?? [], Credentials = credentials.Used });
    }

    public async Task<GeneratedDataKey> GenerateDataKeyAsync(string keyId, int keyLength, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyId);
        ArgumentNullException.ThrowIfNull(encryptionContext);
        var request = new GenerateDataKeyRequest { KeyId = keyId, EncryptionContext = new Dictionary<string, string>(encryptionContext) };
        if (_options.GrantTokens.Count > 0)
        {
            request.GrantTokens = [.. _options.GrantTokens];
        }

        if (keyLength == 32)
        {
            request.KeySpec = DataKeySpec.AES_256;
        }
        else
        {
            request.NumberOfBytes = keyLength;
        }

        var response = await _options.CallAsync(token => _client.GenerateDataKeyAsync(request, token), "GenerateDataKey", keyId, cancellationToken).ConfigureAwait(false);

        var plaintext = TakeAndZero(response.Plaintext);
        var ciphertext = response.CiphertextBlob?.ToArray() ?? [];
        if (plaintext.Length != keyLength || ciphertext.Length == 0 || string.IsNullOrEmpty(response.KeyId))
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, $"KMS GenerateDataKey for '{keyId}' returned an incomplete answer.");
        }

        return new GeneratedDataKey(plaintext, new EncryptedDataKey(KmsKeyring.ProviderId, Encoding.UTF8.GetBytes(response.KeyId), ciphertext), response.KeyId);
    }

    public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(encryptedDataKey);
        ArgumentNullException.ThrowIfNull(encryptionContext);
        if (encryptedDataKey.ProviderId != KmsKeyring.ProviderId)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.NoDecryptableKey, $"The data key is from key provider '{encryptedDataKey.ProviderId}', not AWS KMS.");
        }

        var keyArn = encryptedDataKey.ProviderInfoText;
        var request = new DecryptRequest
        {
            CiphertextBlob = new MemoryStream(encryptedDataKey.Ciphertext, writable: false),
            EncryptionContext = new Dictionary<string, string>(encryptionContext),
        };
        if (keyArn.Length > 0)
        {
            request.KeyId = keyArn;
        }

        if (_options.GrantTokens.Count > 0)
        {
            request.GrantTokens = [.. _options.GrantTokens];
        }

        var response = await _options.CallAsync(token => _client.DecryptAsync(request, token), "Decrypt", keyArn.Length > 0 ? keyArn : "(key named in the ciphertext)", cancellationToken).ConfigureAwait(false);

        var plaintext = TakeAndZero(response.Plaintext);
        if (plaintext.Length == 0 || (keyArn.Length > 0 && !string.Equals(response.KeyId, keyArn, StringComparison.Ordinal)))
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, $"KMS Decrypt answered for key '{response.KeyId}' instead of '{keyArn}'.");
        }

        return plaintext;
    }

    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    private static byte[] TakeAndZero(MemoryStream? stream)
    {
        if (stream is null)
        {
            return [];
        }

        var bytes = stream.ToArray();
        if (stream.TryGetBuffer(out var buffer))
        {
            CryptographicOperations.ZeroMemory(buffer.Array.AsSpan(buffer.Offset, buffer.Count));
        }

        return bytes;
    }
}
