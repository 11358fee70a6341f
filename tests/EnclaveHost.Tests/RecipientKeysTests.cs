using System.Security.Cryptography;
using Microsoft.Extensions.Time.Testing;
using NitroEnclave.Attestation;
using NitroEnclave.Kms;

namespace NitroEnclave.EnclaveHost.Tests;

/// <summary>
/// The Recipient key pair's bounds (docs/threat-model.md, "Recipient key reuse") on a fake clock: a key pair is never
/// used past its lifetime or its number of uses, a document is never sent older than its maximum age, the work happens
/// in the background, and a rotated key pair still opens answers for requests in flight.
/// </summary>
public sealed class RecipientKeysTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly SimulatedNsm _nsm;
    private readonly List<RecipientKeys> _keys = [];
    private int _attestations;
    private volatile bool _nsmFails;

    public RecipientKeysTests() => _nsm = new SimulatedNsm(new SimulatedNsmOptions { TimeProvider = _time });

    public void Dispose()
    {
        _keys.ForEach(k => k.Dispose());
        _nsm.Dispose();
    }

    [Fact]
    public async Task By_default_one_key_pair_and_one_document_serve_successive_requests()
    {
        var keys = await StartAsync(null);
        var attestedAtStart = _attestations;

        using var first = await keys.TakeAsync(CancellationToken.None);
        using var second = await keys.TakeAsync(CancellationToken.None);

        Assert.Equal(1, attestedAtStart);
        Assert.Equal(attestedAtStart, _attestations);
        Assert.Equal(first.KeyPairNumber, second.KeyPairNumber);
        Assert.Equal(first.AttestationDocument, second.AttestationDocument);
        Assert.Equal(PublicKeyOf(first), PublicKeyOf(second));
        AssertOpens(second);
    }

    [Fact]
    public async Task A_key_pair_serves_at_most_MaxUses_requests()
    {
        var keys = await StartAsync(new RecipientKeyPolicy { MaxUses = 3 });

        var numbers = new List<int>();
        for (var i = 0; i < 10; i++)
        {
            using var lease = await keys.TakeAsync(CancellationToken.None);
            numbers.Add(lease.KeyPairNumber);
        }

        Assert.Equal([1, 1, 1, 2, 2, 2, 3, 3, 3, 4], numbers);
    }

    [Fact]
    public async Task Concurrent_takes_never_exceed_the_uses_of_a_key_pair_and_every_lease_opens_its_answer()
    {
        var keys = await StartAsync(new RecipientKeyPolicy { MaxUses = 5 });

        var leases = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => keys.TakeAsync(CancellationToken.None))));
        try
        {
            Assert.All(leases.GroupBy(l => l.KeyPairNumber), group => Assert.InRange(group.Count(), 1, 5));
            Assert.All(leases.GroupBy(l => l.KeyPairNumber), group => Assert.Single(group.Select(l => Convert.ToHexString(PublicKeyOf(l))).Distinct()));
            Assert.True(leases.Select(l => l.KeyPairNumber).Distinct().Count() >= 8);
            Assert.All(leases, AssertOpens);
        }
        finally
        {
            Array.ForEach(leases, l => l.Dispose());
        }
    }

    [Fact]
    public async Task A_key_pair_is_never_used_past_its_lifetime()
    {
        var keys = await StartAsync(new RecipientKeyPolicy { Lifetime = TimeSpan.FromMinutes(2), DocumentMaxAge = TimeSpan.FromMinutes(4) });
        using var first = await keys.TakeAsync(CancellationToken.None);

        _time.Advance(TimeSpan.FromMinutes(2));
        using var later = await keys.TakeAsync(CancellationToken.None);

        Assert.NotEqual(first.KeyPairNumber, later.KeyPairNumber);
        Assert.NotEqual(PublicKeyOf(first), PublicKeyOf(later));
        Assert.Equal(_time.GetUtcNow(), AttestationDocument.Parse(later.AttestationDocument).Timestamp);
    }

    [Fact]
    public async Task A_document_past_its_maximum_age_is_renewed_for_the_same_key_pair()
    {
        var keys = await StartAsync(null);
        using var first = await keys.TakeAsync(CancellationToken.None);

        _time.Advance(RecipientKeyPolicy.Reuse.DocumentMaxAge);
        using var later = await keys.TakeAsync(CancellationToken.None);

        Assert.Equal(first.KeyPairNumber, later.KeyPairNumber);
        Assert.Equal(PublicKeyOf(first), PublicKeyOf(later));
        var age = _time.GetUtcNow() - AttestationDocument.Parse(later.AttestationDocument).Timestamp;
        Assert.InRange(age, TimeSpan.Zero, RecipientKeyPolicy.Reuse.MaintenanceInterval);
    }

    [Fact]
    public async Task Maintenance_renews_the_document_and_rotates_the_key_pair_ahead_of_the_bounds_without_a_request()
    {
        var policy = new RecipientKeyPolicy { Lifetime = TimeSpan.FromMinutes(8), DocumentMaxAge = TimeSpan.FromMinutes(4) };
        var keys = await StartAsync(policy);
        var started = _time.GetUtcNow();

        // Maintenance looks one interval ahead, so it acts before a bound passes, not at it.
        await AdvanceUntil(() => _attestations == 2, policy.DocumentMaxAge);
        Assert.Equal(1, keys.KeyPairsUsed);

        await AdvanceUntil(() => keys.KeyPairsUsed == 2, policy.Lifetime);
        Assert.True(_time.GetUtcNow() - started < policy.Lifetime);

        // A request now finds both ready: no attestation on its path.
        var attested = _attestations;
        using var lease = await keys.TakeAsync(CancellationToken.None);
        Assert.Equal(2, lease.KeyPairNumber);
        Assert.Equal(attested, _attestations);
    }

    [Fact]
    public async Task A_rotated_key_pair_still_opens_the_answer_of_a_request_in_flight_and_then_closes()
    {
        var keys = await StartAsync(new RecipientKeyPolicy { MaxUses = 1 });
        var inFlight = await keys.TakeAsync(CancellationToken.None);
        var answer = RecipientEnvelope.Seal("data key"u8, PublicKeyOf(inFlight));

        using var next = await keys.TakeAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(1));
        using var muchLater = await keys.TakeAsync(CancellationToken.None);

        Assert.NotEqual(inFlight.KeyPairNumber, next.KeyPairNumber);
        Assert.NotEqual(inFlight.KeyPairNumber, muchLater.KeyPairNumber);
        Assert.Equal("data key"u8.ToArray(), inFlight.Open(answer));
        inFlight.Dispose();
        Assert.Throws<ObjectDisposedException>(() => inFlight.Open(answer));
    }

    [Fact]
    public async Task Fresh_per_request_gives_every_request_a_never_used_key_pair_with_its_own_document()
    {
        var keys = await StartAsync(RecipientKeyPolicy.FreshPerRequest);

        var leases = new List<RecipientKeyLease>();
        for (var i = 0; i < 6; i++)
        {
            leases.Add(await keys.TakeAsync(CancellationToken.None));
        }

        try
        {
            Assert.Equal(6, leases.Select(l => l.KeyPairNumber).Distinct().Count());
            Assert.Equal(6, leases.Select(l => Convert.ToHexString(PublicKeyOf(l))).Distinct().Count());
            Assert.All(leases, AssertOpens);
        }
        finally
        {
            leases.ForEach(l => l.Dispose());
        }
    }

    [Fact]
    public async Task A_failing_security_module_fails_the_request_with_its_error_and_a_stale_document_is_never_sent()
    {
        _nsmFails = true;
        var keys = New(null);

        Assert.Equal(AttestationErrors.NsmDeviceError, (await Assert.ThrowsAsync<NitroEnclaveException>(() => keys.WarmUpAsync(CancellationToken.None))).ErrorId);
        Assert.Equal(AttestationErrors.NsmDeviceError, (await Assert.ThrowsAsync<NitroEnclaveException>(() => keys.TakeAsync(CancellationToken.None))).ErrorId);

        _nsmFails = false;
        using (var first = await keys.TakeAsync(CancellationToken.None))
        {
            Assert.Equal(1, first.KeyPairNumber);
        }

        _nsmFails = true;
        _time.Advance(RecipientKeyPolicy.Reuse.DocumentMaxAge);
        await Assert.ThrowsAsync<NitroEnclaveException>(() => keys.TakeAsync(CancellationToken.None));

        _nsmFails = false;
        using var recovered = await keys.TakeAsync(CancellationToken.None);
        Assert.Equal(1, recovered.KeyPairNumber);
        Assert.Equal(_time.GetUtcNow(), AttestationDocument.Parse(recovered.AttestationDocument).Timestamp);
    }

    [Theory]
    [InlineData(0, 100, 240)]
    [InlineData(600, 0, 240)]
    [InlineData(600, 100, 0)]
    [InlineData(600, 100, 300)]
    public void A_policy_outside_the_bounds_is_refused(int lifetimeSeconds, int maxUses, int documentMaxAgeSeconds)
    {
        var policy = new RecipientKeyPolicy
        {
            Lifetime = TimeSpan.FromSeconds(lifetimeSeconds),
            MaxUses = maxUses,
            DocumentMaxAge = TimeSpan.FromSeconds(documentMaxAgeSeconds),
        };

        Assert.Equal(KmsErrors.InvalidRecipientKeyPolicy, Assert.Throws<NitroEnclaveException>(policy.Validate).ErrorId);
        Assert.Equal(KmsErrors.InvalidRecipientKeyPolicy, Assert.Throws<NitroEnclaveException>(() => new RecipientKeys(_ => [], policy)).ErrorId);
    }

    [Fact]
    public void The_default_bounds_are_valid_and_keep_the_document_under_the_KMS_limit()
    {
        RecipientKeyPolicy.Reuse.Validate();
        RecipientKeyPolicy.FreshPerRequest.Validate();
        Assert.True(RecipientKeyPolicy.Reuse.DocumentMaxAge < RecipientKeyPolicy.KmsDocumentLimit);
        Assert.Equal(1, RecipientKeyPolicy.FreshPerRequest.MaxUses);
        Assert.Equal(TimeSpan.FromMinutes(1), RecipientKeyPolicy.Reuse.MaintenanceInterval);
    }

    private RecipientKeys New(RecipientKeyPolicy? policy)
    {
        var keys = new RecipientKeys(Attest, policy, _time);
        _keys.Add(keys);
        return keys;
    }

    private async Task<RecipientKeys> StartAsync(RecipientKeyPolicy? policy)
    {
        var keys = New(policy);
        await keys.WarmUpAsync(CancellationToken.None);
        return keys;
    }

    private byte[] Attest(byte[] subjectPublicKeyInfo)
    {
        if (_nsmFails)
        {
            throw new NitroEnclaveException(AttestationErrors.NsmDeviceError, ErrorKind.ResourceUnavailable, "The security module is not answering.");
        }

        Interlocked.Increment(ref _attestations);
        return _nsm.Attestation(publicKey: subjectPublicKeyInfo);
    }

    /// <summary>
    /// Moves the clock in small steps until <paramref name="done"/>, giving the background task a moment after each
    /// step; fails when <paramref name="before"/> of fake time passes first.
    /// </summary>
    private async Task AdvanceUntil(Func<bool> done, TimeSpan before)
    {
        var step = TimeSpan.FromSeconds(15);
        var advanced = TimeSpan.Zero;
        while (!done())
        {
            Assert.True(advanced + step < before, $"the background task did not act within {advanced} of fake time");
            _time.Advance(step);
            advanced += step;
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!done() && waited.Elapsed < TimeSpan.FromMilliseconds(100))
            {
                await Task.Delay(10);
            }
        }
    }

    private static byte[] PublicKeyOf(RecipientKeyLease lease) => AttestationDocument.Parse(lease.AttestationDocument).PublicKey!;

    private static void AssertOpens(RecipientKeyLease lease)
    {
        var dataKey = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(dataKey, lease.Open(RecipientEnvelope.Seal(dataKey, PublicKeyOf(lease))));
    }
}
