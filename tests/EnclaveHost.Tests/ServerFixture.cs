using NitroEnclave.Attestation;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests;

/// <summary>An in-process server on a loopback TCP port with a simulated security module.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(EnclaveServer server, SimulatedNsmChain chain, EnclaveEndpoint endpoint, StringWriter log)
    {
        Server = server;
        Chain = chain;
        Endpoint = endpoint;
        Log = log;
    }

    public EnclaveServer Server { get; }

    public SimulatedNsmChain Chain { get; }

    public EnclaveEndpoint Endpoint { get; }

    public StringWriter Log { get; }

    public EnclaveClient Client(TimeSpan? timeout = null) => new(Endpoint, timeout ?? TimeSpan.FromSeconds(20));

    public static TestServer Start(
        Action<ServerOptions>? configure = null,
        IDetectionService? detection = null,
        string listen = "tcp://127.0.0.1:0",
        Func<ServerDescription, RequestHandler>? handler = null)
    {
        var options = new ServerOptions { Listen = EnclaveEndpoint.Parse(listen), IdleTimeout = TimeSpan.FromSeconds(5), RequestTimeout = TimeSpan.FromSeconds(10) };
        configure?.Invoke(options);
        var chain = SimulatedNsmChain.Create();
        var nsm = new SimulatedNsm(chain, new SimulatedNsmOptions().WithPcr(0, Enumerable.Repeat((byte)0xAB, 48).ToArray()));
        var description = new ServerDescription
        {
            Server = "NitroEnclave.EnclaveHost",
            Version = "test",
            SecurityModule = "simulated",
            KmsConfigured = detection is not null || handler is not null,
            MaxFrameBytes = options.MaxFrameBytes,
            MaxConcurrentRequests = options.MaxConcurrentRequests,
            RequestTimeoutSeconds = (int)options.RequestTimeout.TotalSeconds,
        };
        var log = new StringWriter();
        var requests = handler?.Invoke(description) ?? new RequestHandler(description, new SecurityModuleAccess(nsm), detection);
        var server = new EnclaveServer(options, requests, new StructuredLog(TextWriter.Synchronized(log), verbose: true));
        var endpoint = server.Start();
        return new TestServer(server, chain, endpoint, log);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Chain.Dispose();
    }
}
