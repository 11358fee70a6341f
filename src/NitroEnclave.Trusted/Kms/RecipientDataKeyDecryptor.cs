using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Envelope;

namespace NitroEnclave.Kms;

/// <summary>
/// The enclave's side of KMS Decrypt with Recipient: for each data key, a key pair generated inside the enclave goes to
/// KMS in its attestation document, KMS checks the key policy's attestation conditions against that document and
/// answers with CiphertextForRecipient, which only that key pair opens. The plaintext data key exists only in this process.
/// </summary>
public sealed class RecipientDataKeyDecryptor : IDataKeyDecryptor
{
    private readonly IAmazonKeyManagementService _client;
    private readonly RecipientKeys _keys;
    private readonly IReadOnlyList<string> _grantTokens;
    private readonly AwsCredentialsUsed? _credentials;

    /// <param name="client">A KMS client carrying the caller's credentials.</param>
    /// <param name="keys">Where the enclave's attested key pairs come from.</param>
    /// <param name="grantTokens">Grant tokens the caller sent for its Decrypt.</param>
    /// <param name="credentials">Which credentials the client signs with, for the message of an authentication failure.</param>
    public RecipientDataKeyDecryptor(IAmazonKeyManagementService client, RecipientKeys keys, IReadOnlyList<string>? grantTokens = null, AwsCredentialsUsed? credentials = null)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _keys = keys ?? throw new ArgumentNullException(nameof(keys));
        _grantTokens = grantTokens ?? [];
        _credentials = credentials;
    }

    public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(encryptedDataKey);
        ArgumentNullException.ThrowIfNull(encryptionContext);
        if (encryptedDataKey.ProviderId != KmsKeyring.ProviderId)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.NoDecryptableKey, $"The data key is from key provider '{encryptedDataKey.ProviderId}', not AWS KMS.");
        }

        using var recipient = await _keys.TakeAsync(cancellationToken).ConfigureAwait(false);
        var keyArn = encryptedDataKey.ProviderInfoText;
        var request = new DecryptRequest
        {
            CiphertextBlob = new MemoryStream(encryptedDataKey.Ciphertext, writable: false),
            EncryptionContext = new Dictionary<string, string>(encryptionContext),
            Recipient = new RecipientInfo
            {
                AttestationDocument = new MemoryStream(recipient.AttestationDocument, writable: false),
                KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256,
            },
        };
        if (keyArn.Length > 0)
        {
            request.KeyId = keyArn;
        }

        if (_grantTokens.Count > 0)
        {
            request.GrantTokens = [.. _grantTokens];
        }

        DecryptResponse response;
        try
        {
            response = await _client.DecryptAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw KmsKeyring.MapFailure(exception, "Decrypt with Recipient", keyArn.Length > 0 ? keyArn : "(key named in the ciphertext)", _credentials);
        }

        if (response.CiphertextForRecipient is not { Length: > 0 } sealedKey)
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, "KMS answered a Recipient request without CiphertextForRecipient.");
        }

        if (keyArn.Length > 0 && !string.Equals(response.KeyId, keyArn, StringComparison.Ordinal))
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, $"KMS Decrypt answered for key '{response.KeyId}' instead of '{keyArn}'.");
        }

        return recipient.Open(sealedKey.ToArray());
    }
}
