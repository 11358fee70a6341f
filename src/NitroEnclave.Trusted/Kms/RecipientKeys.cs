using System.Security.Cryptography;
using System.Threading.Channels;

namespace NitroEnclave.Kms;

/// <summary>
/// How long and how often one Recipient key pair may serve, and how old the attestation document carrying it may get.
/// The AWS Nitro Enclaves SDK keeps one key pair for the life of its KMS client; these bounds limit what a single key
/// pair can ever open (docs/threat-model.md, "Recipient key reuse").
/// </summary>
public sealed record RecipientKeyPolicy
{
    /// <summary>KMS refuses a Recipient document older than this.</summary>
    public static readonly TimeSpan KmsDocumentLimit = TimeSpan.FromMinutes(5);

    /// <summary>The default: a key pair serves up to 100 requests within 10 minutes.</summary>
    public static RecipientKeyPolicy Reuse { get; } = new();

    /// <summary>A never-used key pair for every request (the document is still made ahead of the request).</summary>
    public static RecipientKeyPolicy FreshPerRequest { get; } = new() { MaxUses = 1 };

    /// <summary>How long after its generation a key pair may be used.</summary>
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How many KMS requests one key pair may serve.</summary>
    public int MaxUses { get; init; } = 100;

    /// <summary>The oldest document sent to KMS: a margin under KMS's own limit for the round trip and clock drift.</summary>
    public TimeSpan DocumentMaxAge { get; init; } = TimeSpan.FromMinutes(4);

    public bool IsFreshPerRequest => MaxUses == 1;

    /// <summary>How often the background task looks ahead: a quarter of the tighter time bound.</summary>
    public TimeSpan MaintenanceInterval => (DocumentMaxAge < Lifetime ? DocumentMaxAge : Lifetime) / 4;

    public void Validate()
    {
        if (Lifetime <= TimeSpan.Zero)
        {
            throw Invalid($"The recipient key lifetime must be positive, not {Lifetime}.");
        }

        if (MaxUses < 1)
        {
            throw Invalid($"A recipient key must serve at least one request, not {MaxUses}.");
        }

        if (DocumentMaxAge <= TimeSpan.Zero || DocumentMaxAge >= KmsDocumentLimit)
        {
            throw Invalid($"The recipient document's maximum age must be positive and under KMS's {KmsDocumentLimit.TotalMinutes:0} minutes, not {DocumentMaxAge}.");
        }
    }

    private static NitroEnclaveException Invalid(string message) => new(KmsErrors.InvalidRecipientKeyPolicy, ErrorKind.InvalidArgument, message);
}

/// <summary>
/// One request's use of a key pair: the document to send to KMS and the private half to open its answer with. The key
/// pair stays alive while a lease holds it, even once it is rotated out, so an answer in flight can still be opened.
/// </summary>
public sealed class RecipientKeyLease : IDisposable
{
    private RecipientKeyPair? _pair;

    internal RecipientKeyLease(RecipientKeyPair pair, byte[] attestationDocument)
    {
        _pair = pair;
        AttestationDocument = attestationDocument;
        KeyPairNumber = pair.Number;
    }

    /// <summary>The security module's document whose public_key is this key pair's SubjectPublicKeyInfo.</summary>
    public byte[] AttestationDocument { get; }

    /// <summary>Which key pair this is, counted from 1 since start (tells rotations apart; carries no secret).</summary>
    public int KeyPairNumber { get; }

    /// <summary>Opens what KMS sealed to this key pair (CMS EnvelopedData, RSAES_OAEP_SHA_256).</summary>
    public byte[] Open(byte[] ciphertextForRecipient)
    {
        var pair = _pair ?? throw new ObjectDisposedException(nameof(RecipientKeyLease));
        return pair.Open(ciphertextForRecipient);
    }

    public void Dispose() => Interlocked.Exchange(ref _pair, null)?.Release();
}

/// <summary>An RSA-2048 key pair with its current document, counted uses and leases.</summary>
internal sealed class RecipientKeyPair
{
    private readonly object _gate = new();
    private readonly RSA _key;
    private int _leases;
    private bool _retired;

    public RecipientKeyPair(RSA key, int number, DateTimeOffset created)
    {
        _key = key;
        Number = number;
        Created = created;
        SubjectPublicKeyInfo = key.ExportSubjectPublicKeyInfo();
    }

    public int Number { get; }

    public DateTimeOffset Created { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    // The document and the use count are read and written under RecipientKeys' lock.
    public byte[] Document { get; private set; } = [];

    public DateTimeOffset DocumentTime { get; private set; }

    public int Uses { get; set; }

    public void RenewDocument(byte[] document, DateTimeOffset time)
    {
        Document = document;
        DocumentTime = time;
    }

    public bool IsUsable(RecipientKeyPolicy policy, DateTimeOffset now) =>
        Uses < policy.MaxUses && now - Created < policy.Lifetime && now - DocumentTime < policy.DocumentMaxAge;

    public RecipientKeyLease Lease()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_retired, this);
            _leases++;
        }

        return new RecipientKeyLease(this, Document);
    }

    public byte[] Open(byte[] ciphertextForRecipient)
    {
        // One RSA object is not documented as safe for concurrent use; opening takes about a millisecond.
        lock (_gate)
        {
            return RecipientEnvelope.Open(ciphertextForRecipient, _key);
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            _leases--;
            DisposeWhenIdle();
        }
    }

    /// <summary>No new leases; the private key is destroyed now, or when the last lease ends.</summary>
    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
            DisposeWhenIdle();
        }
    }

    private void DisposeWhenIdle()
    {
        if (_retired && _leases == 0)
        {
            _key.Dispose();
        }
    }
}

/// <summary>
/// The only source of documents that carry a public key: key pairs are generated here, inside the enclave, and nothing
/// from a request can reach a document's public_key (that would let the parent have KMS seal data keys to a key of
/// its own). A key pair serves requests within the policy's bounds and is never used past them. Generation (tens of
/// milliseconds of CPU) happens on a background task, and a maintenance task renews the document and rotates the key
/// pair ahead of the bounds, so a request normally only takes a lease under a lock.
/// </summary>
public sealed class RecipientKeys : IDisposable
{
    private const int FreshModeSpares = 4;

    private readonly Func<byte[], byte[]> _attestPublicKey;
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private readonly SemaphoreSlim _renewOrRotate = new(1, 1);
    private readonly Channel<RSA> _spares;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _generator;
    private readonly Task _maintenance;
    private RecipientKeyPair? _current;
    private RSA? _unattested;
    private int _keyPairs;

    /// <param name="attestPublicKey">Asks the security module for a document binding the given SubjectPublicKeyInfo.</param>
    /// <param name="policy">The bounds of one key pair; <see cref="RecipientKeyPolicy.Reuse"/> when null.</param>
    /// <param name="time">The clock the bounds are measured with.</param>
    public RecipientKeys(Func<byte[], byte[]> attestPublicKey, RecipientKeyPolicy? policy = null, TimeProvider? time = null)
    {
        _attestPublicKey = attestPublicKey ?? throw new ArgumentNullException(nameof(attestPublicKey));
        Policy = policy ?? RecipientKeyPolicy.Reuse;
        Policy.Validate();
        _time = time ?? TimeProvider.System;

        // Fresh keys are consumed one per request, so several wait ready; a reused key needs one successor.
        _spares = Channel.CreateBounded<RSA>(new BoundedChannelOptions(Policy.IsFreshPerRequest ? FreshModeSpares : 1) { SingleWriter = true });
        _generator = Task.Run(GenerateSparesAsync);
        _maintenance = Task.Run(MaintainAsync);
    }

    public RecipientKeyPolicy Policy { get; }

    /// <summary>Key pairs put into service since start.</summary>
    public int KeyPairsUsed => Volatile.Read(ref _keyPairs);

    /// <summary>Puts the first key pair and its document in place, so the first request does not wait for them.</summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        await _renewOrRotate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (CurrentIsUsable() is null)
            {
                await RenewOrRotateAsync(ahead: TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _renewOrRotate.Release();
        }
    }

    /// <summary>A lease on a key pair within its bounds, with a document fresh enough for KMS; the taker disposes it.</summary>
    public async Task<RecipientKeyLease> TakeAsync(CancellationToken cancellationToken)
    {
        if (TryLease() is { } lease)
        {
            return lease;
        }

        await _renewOrRotate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another request may have renewed or rotated while this one waited, and concurrent fast-path takes may use
            // up a key pair as soon as it is in place: then put the next one in place.
            while (true)
            {
                if (TryLease() is { } renewed)
                {
                    return renewed;
                }

                await RenewOrRotateAsync(ahead: TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _renewOrRotate.Release();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _spares.Writer.TryComplete();
        try
        {
            Task.WaitAll([_generator, _maintenance], TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Both tasks end with a cancellation; any other failure was already handled inside them.
        }

        while (_spares.Reader.TryRead(out var spare))
        {
            spare.Dispose();
        }

        lock (_lock)
        {
            _current?.Retire();
            _current = null;
        }

        _unattested?.Dispose();
        _stop.Dispose();
        _renewOrRotate.Dispose();
    }

    private RecipientKeyLease? TryLease()
    {
        lock (_lock)
        {
            if (CurrentIsUsable() is not { } pair)
            {
                return null;
            }

            pair.Uses++;
            var lease = pair.Lease();
            if (pair.Uses >= Policy.MaxUses)
            {
                // Its last use: retire it now (the lease keeps it alive) and have the successor made in the background.
                pair.Retire();
                _current = null;
                _wake.Writer.TryWrite(true);
            }

            return lease;
        }
    }

    private RecipientKeyPair? CurrentIsUsable()
    {
        lock (_lock)
        {
            return _current is { } pair && pair.IsUsable(Policy, _time.GetUtcNow()) ? pair : null;
        }
    }

    /// <summary>
    /// Under <see cref="_renewOrRotate"/>: renews the current key pair's document, or rotates to a spare when the key
    /// pair would pass a bound within <paramref name="ahead"/>. Does nothing when neither is needed yet.
    /// </summary>
    private async Task RenewOrRotateAsync(TimeSpan ahead, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        RecipientKeyPair? current;
        bool keepsKey, needsDocument;
        lock (_lock)
        {
            current = _current;
            keepsKey = current is not null && current.Uses < Policy.MaxUses && now + ahead - current.Created < Policy.Lifetime;
            needsDocument = current is not null && now + ahead - current.DocumentTime >= Policy.DocumentMaxAge;
        }

        if (keepsKey)
        {
            if (needsDocument)
            {
                var document = _attestPublicKey(current!.SubjectPublicKeyInfo);
                lock (_lock)
                {
                    current!.RenewDocument(document, now);
                }
            }

            return;
        }

        // A spare that failed to be attested before is tried again before a new one is taken.
        var key = _unattested ?? await _spares.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        _unattested = key;
        var next = new RecipientKeyPair(key, Volatile.Read(ref _keyPairs) + 1, _time.GetUtcNow());
        next.RenewDocument(_attestPublicKey(next.SubjectPublicKeyInfo), next.Created);
        _unattested = null;
        Interlocked.Increment(ref _keyPairs);
        lock (_lock)
        {
            _current?.Retire();
            _current = next;
        }
    }

    private async Task GenerateSparesAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var key = RSA.Create(2048);

            // RSA.Create generates lazily at first use: use it here, so the expensive part happens in the background.
            _ = key.ExportSubjectPublicKeyInfo();
            try
            {
                await _spares.Writer.WriteAsync(key, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                key.Dispose();
                return;
            }
        }
    }

    /// <summary>Every maintenance interval, or as soon as a key pair reached its last use: renew or rotate ahead of the bounds.</summary>
    private async Task MaintainAsync()
    {
        var interval = Policy.MaintenanceInterval;
        while (!_stop.IsCancellationRequested)
        {
            using (var tick = new CancellationTokenSource(interval, _time))
            using (var either = CancellationTokenSource.CreateLinkedTokenSource(tick.Token, _stop.Token))
            {
                try
                {
                    await _wake.Reader.WaitToReadAsync(either.Token).ConfigureAwait(false);
                    _wake.Reader.TryRead(out _);
                }
                catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                {
                    // The interval passed.
                }
            }

            try
            {
                await _renewOrRotate.WaitAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                // Look one interval ahead: the next look may come too late for a bound that falls before it.
                await RenewOrRotateAsync(interval, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
            {
                // A request taking a key meets the same failure on its own path and reports it; try again later.
            }
            finally
            {
                _renewOrRotate.Release();
            }
        }
    }
}
