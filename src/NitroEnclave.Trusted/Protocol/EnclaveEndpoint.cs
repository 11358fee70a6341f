using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace NitroEnclave.Protocol;

public enum EndpointTransport
{
    Vsock,
    Tcp,
    Unix,
}

/// <summary>
/// Where the enclave server listens or is reached: <c>vsock://CID:PORT</c> (server side <c>vsock://:PORT</c> binds any
/// CID), <c>tcp://HOST:PORT</c>, or <c>unix:/path</c> (also <c>unix:///path</c>).
/// </summary>
public sealed class EnclaveEndpoint
{
    /// <summary>VMADDR_CID_ANY: bind on every CID.</summary>
    public const uint AnyCid = uint.MaxValue;

    private EnclaveEndpoint(EndpointTransport transport, string? host, uint cid, int port, string? path)
    {
        Transport = transport;
        Host = host;
        Cid = cid;
        Port = port;
        UnixPath = path;
    }

    public EndpointTransport Transport { get; }

    public string? Host { get; }

    public uint Cid { get; }

    public int Port { get; }

    public string? UnixPath { get; }

    public static EnclaveEndpoint Vsock(uint cid, int port) => new(EndpointTransport.Vsock, null, cid, CheckPort(port), null);

    public static EnclaveEndpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text["unix:".Length..];
            path = path.StartsWith("//", StringComparison.Ordinal) ? path[2..] : path;
            return path.Length > 0 ? new EnclaveEndpoint(EndpointTransport.Unix, null, 0, 0, path) : throw Invalid(text, "a unix endpoint needs a path");
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            // vsock://:5000 is not a valid URI host; handle the empty-host form by hand.
            if (text.StartsWith("vsock://:", StringComparison.OrdinalIgnoreCase) && int.TryParse(text["vsock://:".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var anyPort))
            {
                return Vsock(AnyCid, anyPort);
            }

            throw Invalid(text, "expected vsock://CID:PORT, tcp://HOST:PORT or unix:/path");
        }

        return uri.Scheme.ToLowerInvariant() switch
        {
            "tcp" when uri.Port >= 0 => new EnclaveEndpoint(EndpointTransport.Tcp, uri.Host, 0, CheckPort(uri.Port), null),
            "vsock" when uri.Port > 0 && uint.TryParse(uri.Host, NumberStyles.None, CultureInfo.InvariantCulture, out var cid) => Vsock(cid, uri.Port),
            _ => throw Invalid(text, "expected vsock://CID:PORT, tcp://HOST:PORT or unix:/path"),
        };
    }

    public override string ToString() => Transport switch
    {
        EndpointTransport.Unix => "unix:" + UnixPath,
        EndpointTransport.Tcp => $"tcp://{Host}:{Port}",
        _ => Cid == AnyCid ? $"vsock://:{Port}" : $"vsock://{Cid}:{Port}",
    };

    /// <summary>The socket address of a TCP or Unix endpoint (vsock addresses go through VsockSockets).</summary>
    public EndPoint ToEndPoint() => Transport switch
    {
        EndpointTransport.Unix => new UnixDomainSocketEndPoint(UnixPath!),
        EndpointTransport.Tcp => IPAddress.TryParse(Host, out var address) ? new IPEndPoint(address, Port) : new DnsEndPoint(Host!, Port),
        _ => throw new InvalidOperationException("vsock endpoints have no .NET EndPoint; use VsockSockets."),
    };

    /// <summary>Opens a connection; failures are EnclaveProtocolException with code Unavailable and the endpoint named.</summary>
    public async Task<Stream> ConnectAsync(CancellationToken cancellationToken)
    {
        if (Transport == EndpointTransport.Vsock)
        {
            return await VsockSockets.ConnectAsync(this, cancellationToken).ConfigureAwait(false);
        }

        var socket = Transport == EndpointTransport.Unix
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(ToEndPoint(), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, $"Cannot connect to the enclave server at {this}: {ex.SocketErrorCode}.", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static int CheckPort(int port) =>
        port >= 0 ? port : throw new ArgumentOutOfRangeException(nameof(port), "A port cannot be negative.");

    private static NitroEnclaveException Invalid(string text, string detail) =>
        new("EndpointInvalid", ErrorKind.InvalidArgument, $"'{text}' is not an enclave endpoint: {detail}.");
}
