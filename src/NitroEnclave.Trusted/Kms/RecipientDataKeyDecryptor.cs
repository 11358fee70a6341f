using System.Security.Cryptography;
using System.Threading.Channels;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Envelope;

namespace NitroEnclave.Kms;

/// <summary>
/// The enclave's side of KMS Decrypt with Recipient: for each data key, a never-used RSA-2048 key pair goes into a fresh
/// attestation document, KMS checks the key policy's attestation conditions against that document and answers with
/// CiphertextForRecipient, which only this key pair opens. The plaintext data key exists only in this process.
/// </summary>
public sealed class RecipientDataKeyDecryptor : IDataKeyDecryptor
{
    private readonly IAmazonKeyManagementService _client;
    private readonly Func<byte[], byte[]> _attest;
    private readonly RsaKeyPool _keys;

    /// <param name="client">A KMS client carrying the caller's credentials.</param>
    /// <param name="attest">Returns a fresh attestation document binding the given DER SubjectPublicKeyInfo.</param>
    /// <param name="keys">Where fresh RSA key pairs come from.</param>
    public RecipientDataKeyDecryptor(IAmazonKeyManagementService client, Func<byte[], byte[]> attest, RsaKeyPool keys)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _attest = attest ?? throw new ArgumentNullException(nameof(attest));
        _keys = keys ?? throw new ArgumentNullException(nameof(keys));
    }

    public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(encryptedDataKey);
        ArgumentNullException.ThrowIfNull(encryptionContext);
        if (encryptedDataKey.ProviderId != KmsKeyring.ProviderId)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.NoDecryptableKey, $"The data key is from key provider '{encryptedDataKey.ProviderId}', not AWS KMS.");
        }

        using var rsa = await _keys.TakeAsync(cancellationToken).ConfigureAwait(false);
        var document = _attest(rsa.ExportSubjectPublicKeyInfo());
        var keyArn = encryptedDataKey.ProviderInfoText;
        var request = new DecryptRequest
        {
            CiphertextBlob = new MemoryStream(encryptedDataKey.Ciphertext, writable: false),
            EncryptionContext = new Dictionary<string, string>(encryptionContext),
            Recipient = new RecipientInfo
            {
                AttestationDocument = new MemoryStream(document, writable: false),
                KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256,
            },
        };
        if (keyArn.Length > 0)
        {
            request.KeyId = keyArn;
        }

        DecryptResponse response;
        try
        {
            response = await _client.DecryptAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw KmsKeyring.MapFailure(exception, "Decrypt with Recipient", keyArn.Length > 0 ? keyArn : "(key named in the ciphertext)");
        }

        if (response.CiphertextForRecipient is not { Length: > 0 } sealedKey)
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, "KMS answered a Recipient request without CiphertextForRecipient.");
        }

        if (keyArn.Length > 0 && !string.Equals(response.KeyId, keyArn, StringComparison.Ordinal))
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsInvalidResponse, ErrorKind.InvalidData, $"KMS Decrypt answered for key '{response.KeyId}' instead of '{keyArn}'.");
        }

        return RecipientEnvelope.Open(sealedKey.ToArray(), rsa);
    }
}

/// <summary>
/// Single-use RSA-2048 key pairs generated ahead of need on a background task (generation takes tens of milliseconds,
/// too long for the request path). Each key is handed out once; the taker disposes it.
/// </summary>
public sealed class RsaKeyPool : IDisposable
{
    private readonly Channel<RSA> _ready;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _filler;

    public RsaKeyPool(int capacity = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ready = Channel.CreateBounded<RSA>(new BoundedChannelOptions(capacity) { SingleReader = false, SingleWriter = true });
        _filler = Task.Run(FillAsync);
    }

    public async Task<RSA> TakeAsync(CancellationToken cancellationToken) =>
        await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);

    public void Dispose()
    {
        _stop.Cancel();
        _ready.Writer.TryComplete();
        try
        {
            _filler.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The filler ends with a cancellation; nothing else can fail there.
        }

        while (_ready.Reader.TryRead(out var key))
        {
            key.Dispose();
        }

        _stop.Dispose();
    }

    private async Task FillAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var key = RSA.Create(2048);

            // The key pair is generated lazily at first use: use it here, so the expensive part happens in the background.
            _ = key.ExportSubjectPublicKeyInfo();
            try
            {
                await _ready.Writer.WriteAsync(key, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                key.Dispose();
                return;
            }
        }
    }
}
