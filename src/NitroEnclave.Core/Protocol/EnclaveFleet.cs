namespace NitroEnclave.Protocol;

/// <summary>
/// Several enclave servers behind one call: each call goes to the least busy endpoint; an endpoint that fails the way
/// a dying or overloaded server does (connection refused or reset, no answer in time, Busy) is taken out for
/// <see cref="Quarantine"/> and the call is retried on another, so a lost enclave costs no file. Every request is safe
/// to repeat (none changes a server's state). Errors about the request itself (a file that does not decrypt, a
/// refused key) are not retried: another enclave would answer the same.
/// </summary>
public sealed class EnclaveFleet : IDisposable
{
    public const string FleetUnavailable = "EnclaveFleetUnavailable";

    private readonly Member[] _members;
    private readonly TimeProvider _time;
    private long _taken;

    public EnclaveFleet(IReadOnlyList<EnclaveClient> clients, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(clients);
        if (clients.Count == 0)
        {
            throw new ArgumentException("A fleet needs at least one enclave server.", nameof(clients));
        }

        _members = [.. clients.Select(c => new Member(c))];
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How long an endpoint that failed is passed over while others are available.</summary>
    public TimeSpan Quarantine { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<EnclaveClient> Clients => [.. _members.Select(m => m.Client)];

    /// <summary>
    /// Runs <paramref name="call"/> on the least busy endpoint, then on the others in turn while endpoints fail, each
    /// at most once; returns the result with the client that answered. With one endpoint its own error comes back
    /// unchanged; when several all fail, one EnclaveFleetUnavailable names each endpoint's failure.
    /// </summary>
    public async Task<(T Result, EnclaveClient Client)> RunAsync<T>(Func<EnclaveClient, Task<T>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var failures = new List<(Member Member, EnclaveProtocolException Error)>();
        while (Take(failures.Select(f => f.Member)) is { } member)
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                return (await call(member.Client).ConfigureAwait(false), member.Client);
            }
            catch (EnclaveProtocolException ex) when (IsEndpointFailure(ex))
            {
                lock (_members)
                {
                    member.QuarantinedUntil = _time.GetUtcNow() + Quarantine;
                }

                failures.Add((member, ex));
            }
            finally
            {
                lock (_members)
                {
                    member.InFlight--;
                }
            }
        }

        if (failures.Count == 1)
        {
            throw failures[0].Error;
        }

        throw new NitroEnclaveException(FleetUnavailable, ErrorKind.ResourceUnavailable,
            $"Every enclave server failed: {string.Join("; ", failures.Select(f => f.Error.Message))}", failures[^1].Error);
    }

    public void Dispose()
    {
        foreach (var member in _members)
        {
            member.Client.Dispose();
        }
    }

    internal static bool IsEndpointFailure(EnclaveProtocolException error) =>
        error.Code is ProtocolErrorCodes.Unavailable or ProtocolErrorCodes.Timeout or ProtocolErrorCodes.Busy;

    /// <summary>
    /// Takes (counts as busy) the least busy endpoint not yet tried, preferring those not in quarantine, and among
    /// equals the one used longest ago; null when all were tried.
    /// </summary>
    private Member? Take(IEnumerable<Member> tried)
    {
        var now = _time.GetUtcNow();
        var excluded = tried.ToHashSet();
        lock (_members)
        {
            var member = _members
                .Where(m => !excluded.Contains(m))
                .OrderBy(m => m.QuarantinedUntil > now)
                .ThenBy(m => m.InFlight)
                .ThenBy(m => m.QuarantinedUntil > now ? m.QuarantinedUntil : DateTimeOffset.MinValue)
                .ThenBy(m => m.LastTaken)
                .FirstOrDefault();
            if (member is not null)
            {
                member.InFlight++;
                member.LastTaken = ++_taken;
            }

            return member;
        }
    }

    /// <summary>An endpoint's state; every field is read and written under the lock on _members.</summary>
    private sealed class Member(EnclaveClient client)
    {
        public EnclaveClient Client { get; } = client;

        public int InFlight { get; set; }

        public long LastTaken { get; set; }

        public DateTimeOffset QuarantinedUntil { get; set; } = DateTimeOffset.MinValue;
    }
}
