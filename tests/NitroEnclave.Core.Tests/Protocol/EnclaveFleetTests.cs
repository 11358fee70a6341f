using NitroEnclave.Protocol;

namespace NitroEnclave.Tests.Protocol;

/// <summary>
/// How a fleet picks an enclave server for each call and what it does when one fails. The calls are the test's own
/// functions, so which server answered, and how, is decided here; no connection is made.
/// </summary>
public sealed class EnclaveFleetTests : IDisposable
{
    private readonly ManualTime _time = new();
    private readonly EnclaveFleet _fleet;

    public EnclaveFleetTests() =>
        _fleet = new EnclaveFleet([Client("tcp://127.0.0.1:1001"), Client("tcp://127.0.0.1:1002")], _time) { Quarantine = TimeSpan.FromSeconds(30) };

    public void Dispose() => _fleet.Dispose();

    private static EnclaveClient Client(string endpoint) => new(EnclaveEndpoint.Parse(endpoint));

    private static string Port(EnclaveClient client) => client.Endpoint.ToString()[^4..];

    private static EnclaveProtocolException Failure(string code) => new(code, $"simulated {code}");

    [Fact]
    public async Task A_call_goes_to_the_least_busy_server()
    {
        var first = new TaskCompletionSource<string>();
        var busy = _fleet.RunAsync(c => first.Task, CancellationToken.None);
        var (second, client) = await _fleet.RunAsync(c => Task.FromResult(Port(c)), CancellationToken.None);
        first.SetResult("done");
        var (_, firstClient) = await busy;
        Assert.NotEqual(Port(firstClient), second);
        Assert.Equal(second, Port(client));
    }

    [Fact]
    public async Task Idle_servers_take_turns()
    {
        var ports = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ports.Add((await _fleet.RunAsync(c => Task.FromResult(Port(c)), CancellationToken.None)).Result);
        }

        Assert.Equal(["1001", "1002", "1001", "1002"], ports);
    }

    [Theory]
    [InlineData(ProtocolErrorCodes.Unavailable)]
    [InlineData(ProtocolErrorCodes.Timeout)]
    [InlineData(ProtocolErrorCodes.Busy)]
    public async Task A_server_that_fails_is_retried_on_another_and_passed_over_until_its_quarantine_ends(string code)
    {
        var calls = new List<string>();
        Task<string> Call(EnclaveClient c)
        {
            calls.Add(Port(c));
            return Port(c) == "1001" ? throw Failure(code) : Task.FromResult("answer");
        }

        Assert.Equal("answer", (await _fleet.RunAsync(Call, CancellationToken.None)).Result);
        Assert.Equal(["1001", "1002"], calls);

        // While in quarantine the failed server is not asked, though it is idle.
        calls.Clear();
        await _fleet.RunAsync(Call, CancellationToken.None);
        await _fleet.RunAsync(Call, CancellationToken.None);
        Assert.Equal(["1002", "1002"], calls);

        // Once the quarantine is over it is asked again.
        _time.Advance(TimeSpan.FromSeconds(31));
        calls.Clear();
        await _fleet.RunAsync(Call, CancellationToken.None);
        Assert.Equal(["1001", "1002"], calls);
    }

    [Theory]
    [InlineData(ProtocolErrorCodes.DecryptFailed)]
    [InlineData(ProtocolErrorCodes.KmsAccessDenied)]
    [InlineData(ProtocolErrorCodes.BadRequest)]
    public async Task An_error_about_the_request_is_not_retried(string code)
    {
        var calls = 0;
        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => _fleet.RunAsync<string>(c =>
        {
            calls++;
            throw Failure(code);
        }, CancellationToken.None));
        Assert.Equal(code, error.Code);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task When_every_server_fails_the_error_names_each_failure()
    {
        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() =>
            _fleet.RunAsync<string>(c => throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, $"{c.Endpoint} refused"), CancellationToken.None));
        Assert.Equal(EnclaveFleet.FleetUnavailable, error.ErrorId);
        Assert.Equal(ErrorKind.ResourceUnavailable, error.Kind);
        Assert.Contains("tcp://127.0.0.1:1001 refused", error.Message, StringComparison.Ordinal);
        Assert.Contains("tcp://127.0.0.1:1002 refused", error.Message, StringComparison.Ordinal);

        // Both are in quarantine now; the next call still tries them rather than failing unasked.
        var (result, _) = await _fleet.RunAsync(c => Task.FromResult("recovered"), CancellationToken.None);
        Assert.Equal("recovered", result);
    }

    [Fact]
    public async Task A_single_server_keeps_its_own_error()
    {
        using var single = new EnclaveFleet([Client("tcp://127.0.0.1:1001")], _time);
        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => single.RunAsync<string>(c => throw Failure(ProtocolErrorCodes.Unavailable), CancellationToken.None));
        Assert.Equal("EnclaveUnavailable", error.ErrorId);
    }

    [Fact]
    public void A_fleet_needs_a_server() => Assert.Throws<ArgumentException>(() => new EnclaveFleet([]));

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
