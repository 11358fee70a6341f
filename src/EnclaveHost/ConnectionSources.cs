using System.Net;
using System.Net.Sockets;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>A bound, listening endpoint that hands out connections.</summary>
internal interface IConnectionSource : IDisposable
{
    /// <summary>The endpoint actually bound (a TCP port 0 becomes the port chosen).</summary>
    EnclaveEndpoint Endpoint { get; }

    /// <summary>The next connection, or null once the source is closed.</summary>
    Task<Stream?> AcceptAsync(CancellationToken cancellationToken);
}

internal static class ConnectionSource
{
    public static IConnectionSource Bind(EnclaveEndpoint endpoint) => endpoint.Transport switch
    {
        EndpointTransport.Vsock => new VsockSource(VsockSockets.Listen(endpoint)),
        _ => SocketSource.Bind(endpoint),
    };

    private sealed class VsockSource(VsockSockets.VsockListener listener) : IConnectionSource
    {
        public EnclaveEndpoint Endpoint => listener.Endpoint;

        public Task<Stream?> AcceptAsync(CancellationToken cancellationToken) => listener.AcceptAsync();

        public void Dispose() => listener.Dispose();
    }

    private sealed class SocketSource(Socket socket, EnclaveEndpoint endpoint) : IConnectionSource
    {
        public EnclaveEndpoint Endpoint => endpoint;

        public static SocketSource Bind(EnclaveEndpoint endpoint)
        {
            Socket socket;
            if (endpoint.Transport == EndpointTransport.Unix)
            {
                RemoveStaleSocketFile(endpoint.UnixPath!);
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            }
            else
            {
                var address = (System.Net.IPEndPoint)endpoint.ToEndPoint();
                socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            }

            try
            {
                socket.Bind(endpoint.ToEndPoint());
                socket.Listen(256);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, $"Cannot listen on {endpoint}: {ex.SocketErrorCode}.", ex);
            }

            var bound = socket.LocalEndPoint is IPEndPoint ip
                ? EnclaveEndpoint.Parse($"tcp://{(ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip.Address}]" : ip.Address.ToString())}:{ip.Port}")
                : endpoint;
            return new SocketSource(socket, bound);
        }

        public async Task<Stream?> AcceptAsync(CancellationToken cancellationToken)
        {
            try
            {
                var connection = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
                if (connection.ProtocolType == ProtocolType.Tcp)
                {
                    connection.NoDelay = true;
                }

                return new NetworkStream(connection, ownsSocket: true);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return null;
            }
        }

        public void Dispose()
        {
            socket.Dispose();
            if (endpoint.Transport == EndpointTransport.Unix)
            {
                File.Delete(endpoint.UnixPath!);
            }
        }

        /// <summary>
        /// A socket file left by a server that did not stop cleanly would make bind fail. It is removed only when nothing
        /// answers on it and it cannot be opened as a file (open() fails on sockets), so a regular file is never removed.
        /// </summary>
        private static void RemoveStaleSocketFile(string path)
        {
            if (!File.Exists(path))
            {
                return;
            }

            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
            }

            try
            {
                File.OpenHandle(path).Dispose();
            }
            catch (IOException)
            {
                File.Delete(path);
            }
        }
    }
}
