using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>The server's settings, from the command line.</summary>
public sealed class ServerOptions
{
    public EnclaveEndpoint Listen { get; set; } = EnclaveEndpoint.Vsock(EnclaveEndpoint.AnyCid, EnclaveProtocol.DefaultPort);

    public int MaxFrameBytes { get; set; } = Framing.DefaultMaxFrameSize;

    /// <summary>Connections served at once; more are answered Busy and closed.</summary>
    public int MaxConnections { get; set; } = 64;

    /// <summary>Requests processed at once; more wait in line up to QueueTimeout, then get Busy.</summary>
    public int MaxConcurrentRequests { get; set; } = Environment.ProcessorCount;

    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The memory that requests may hold at once (frames, plaintext, decoded pixels). The default leaves room for the
    /// model, ONNX Runtime and the enclave's own file system in a 1 GiB enclave.
    /// </summary>
    public long MemoryBudgetBytes { get; set; } = DefaultMemoryBudgetMiB << 20;

    public const long DefaultMemoryBudgetMiB = 512;

    /// <summary>How long a new connection may take to send its first frame header.</summary>
    public TimeSpan FirstFrameTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a connection may sit between requests before it is closed (the next header included).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a whole frame body may take to arrive once its header has.</summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A peer silent this long, and not being served, gives way when connections or memory run short.</summary>
    public TimeSpan StalledPeerGrace { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest one request may take, from its first byte to the answer.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long shutdown waits for requests in flight.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);
}
