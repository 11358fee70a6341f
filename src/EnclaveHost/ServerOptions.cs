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

    /// <summary>How long a connection may sit between requests (or dribble a frame) before it is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest one request may take, from its first byte to the answer.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long shutdown waits for requests in flight.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);
}
