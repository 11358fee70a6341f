using System.Security.Cryptography;
using System.Threading.Channels;

namespace NitroEnclave.Kms;

/// <summary>
/// An RSA-2048 key pair generated inside the enclave, with the attestation document that carries its public half. The
/// private half never leaves this object: callers can only ask it to open a CiphertextForRecipient.
/// </summary>
public sealed class RecipientKey : IDisposable
{
    private readonly RSA _key;

    internal RecipientKey(RSA key, byte[] attestationDocument)
    {
        _key = key;
        AttestationDocument = attestationDocument;
    }

    /// <summary>The security module's document whose public_key is this key pair's SubjectPublicKeyInfo.</summary>
    public byte[] AttestationDocument { get; }

    /// <summary>Opens what KMS sealed to this key pair (CMS EnvelopedData, RSAES_OAEP_SHA_256).</summary>
    public byte[] Open(byte[] ciphertextForRecipient) => RecipientEnvelope.Open(ciphertextForRecipient, _key);

    public void Dispose() => _key.Dispose();
}

/// <summary>
/// The only source of documents that carry a public key. Key pairs are generated here, ahead of need on a background
/// task (generation takes tens of milliseconds, too long for the request path), and each is attested when it is taken,
/// so its document is fresh. Nothing from a request can reach the document's public_key: that would let the parent have
/// KMS seal data keys to a key of its own.
/// </summary>
public sealed class RecipientKeys : IDisposable
{
    private readonly Func<byte[], byte[]> _attestPublicKey;
    private readonly Channel<RSA> _ready;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _filler;

    /// <param name="attestPublicKey">Asks the security module for a document binding the given SubjectPublicKeyInfo.</param>
    /// <param name="capacity">How many key pairs to keep ready.</param>
    public RecipientKeys(Func<byte[], byte[]> attestPublicKey, int capacity = 4)
    {
        _attestPublicKey = attestPublicKey ?? throw new ArgumentNullException(nameof(attestPublicKey));
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ready = Channel.CreateBounded<RSA>(new BoundedChannelOptions(capacity) { SingleReader = false, SingleWriter = true });
        _filler = Task.Run(FillAsync);
    }

    /// <summary>A never-used key pair and a fresh document for it; the taker disposes it.</summary>
    public async Task<RecipientKey> TakeAsync(CancellationToken cancellationToken)
    {
        var key = await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return new RecipientKey(key, _attestPublicKey(key.ExportSubjectPublicKeyInfo()));
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

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
