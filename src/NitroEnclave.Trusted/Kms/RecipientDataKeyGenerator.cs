using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Envelope;

namespace NitroEnclave.Kms;

/// <summary>
/// The enclave's side of KMS GenerateDataKey with Recipient, for the confidential results it encrypts: KMS checks the
/// result key's attestation conditions against the document of a key pair generated inside the enclave and answers with
/// the data key sealed to it (CiphertextForRecipient) and the key's own CiphertextBlob, never the plaintext. The
/// plaintext data key exists only in this process. Decrypting is not this class's job: only the data owner decrypts.
/// </summary>
public sealed class RecipientDataKeyGenerator : IDataKeyGenerator
{
    private readonly IAmazonKeyManagementService _client;
    private readonly RecipientKeys _keys;

    /// <param name="client">A KMS client carrying the caller's credentials.</param>
    /// <param name="keys">Where the enclave's attested key pairs come from.</param>
    public RecipientDataKeyGenerator(IAmazonKeyManagementService client, RecipientKeys keys)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _keys = keys ?? throw new ArgumentNullException(nameof(keys));
    }

    public async Task<GeneratedDataKey> GenerateDataKeyAsync(string keyId, int keyLength, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyId);
        ArgumentNullException.ThrowIfNull(encryptionContext);
        using var recipient = await _keys.TakeAsync(cancellationToken).ConfigureAwait(false);
        var request = new GenerateDataKeyRequest
        {
            KeyId = keyId,
            EncryptionContext = new Dictionary<string, string>(encryptionContext),
            Recipient = new RecipientInfo
            {
                AttestationDocument = new MemoryStream(recipient.AttestationDocument, writable: false),
                KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256,
            },
        };
        if (keyLength == 32)
        {
            request.KeySpec = DataKeySpec.AES_256;
        }
        else
        {
            request.NumberOfBytes = keyLength;
        }

        GenerateDataKeyResponse response;
        try
        {
            response = await _client.GenerateDataKeyAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw KmsKeyring.MapFailure(exception, "GenerateDataKey with Recipient", keyId);
        }

        var ciphertext = response.CiphertextBlob?.ToArray() ?? [];
        if (response.CiphertextForRecipient is not { Length: > 0 } sealedKey || ciphertext.Length == 0 || string.IsNullOrEmpty(response.KeyId))
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, $"KMS GenerateDataKey with Recipient for '{keyId}' returned an incomplete answer.");
        }

        var plaintext = recipient.Open(sealedKey.ToArray());
        if (plaintext.Length != keyLength)
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, $"KMS GenerateDataKey with Recipient for '{keyId}' returned a data key of the wrong length.");
        }

        return new GeneratedDataKey(plaintext, new EncryptedDataKey(KmsKeyring.ProviderId, System.Text.Encoding.UTF8.GetBytes(response.KeyId), ciphertext), response.KeyId);
    }
}
