using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace NitroEnclave.Protocol;

/// <summary>
/// AF_VSOCK sockets through libc: .NET's socket layer does not know the vsock address family, so socket, bind, listen,
/// accept and connect are called directly and the resulting descriptors are wrapped in <see cref="Socket"/> for I/O.
/// Linux only.
/// </summary>
public static partial class VsockSockets
{
    public const int AddressFamilyVsock = 40;
    private const int SockStream = 1;
    private const int SocketAddressSize = 16;

    /// <summary>struct sockaddr_vm: u16 family, u16 reserved, u32 port, u32 CID, 4 zero bytes (host byte order).</summary>
    public static byte[] SocketAddress(uint cid, int port)
    {
        var address = new byte[SocketAddressSize];
        BinaryPrimitives.WriteUInt16LittleEndian(address, AddressFamilyVsock);
        BinaryPrimitives.WriteUInt32LittleEndian(address.AsSpan(4), (uint)port);
        BinaryPrimitives.WriteUInt32LittleEndian(address.AsSpan(8), cid);
        return address;
    }

    /// <summary>A listening vsock socket bound to the endpoint's CID (usually any) and port.</summary>
    public static VsockListener Listen(EnclaveEndpoint endpoint, int backlog = 64)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var fd = CreateSocket(endpoint);
        if (Bind(fd, SocketAddress(endpoint.Cid, endpoint.Port), SocketAddressSize) != 0 || ListenNative(fd, backlog) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            _ = Close(fd);
            throw Failure(endpoint, "bind", error);
        }

        return new VsockListener(fd, endpoint);
    }

    /// <summary>Connects to an enclave (or the parent, CID 3) and returns the connection as a stream.</summary>
    public static Task<Stream> ConnectAsync(EnclaveEndpoint endpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var fd = CreateSocket(endpoint);
        var handle = new SafeSocketHandle(fd, ownsHandle: true);
        return Task.Run<Stream>(() =>
        {
            // A blocking connect, abandoned by closing the descriptor when the caller cancels.
            using var registration = cancellationToken.Register(handle.Dispose);
            if (cancellationToken.IsCancellationRequested || Connect(fd, SocketAddress(endpoint.Cid, endpoint.Port), SocketAddressSize) != 0)
            {
                var error = Marshal.GetLastPInvokeError();
                handle.Dispose();
                cancellationToken.ThrowIfCancellationRequested();
                throw Failure(endpoint, "connect", error);
            }

            return new NetworkStream(new Socket(handle), ownsSocket: true);
        });
    }

    private static int CreateSocket(EnclaveEndpoint endpoint)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, "vsock endpoints exist only on Linux.");
        }

        var fd = SocketNative(AddressFamilyVsock, SockStream, 0);
        return fd >= 0 ? fd : throw Failure(endpoint, "socket", Marshal.GetLastPInvokeError());
    }

    private static EnclaveProtocolException Failure(EnclaveEndpoint endpoint, string call, int errno) =>
        new(ProtocolErrorCodes.Unavailable, $"vsock {call} for {endpoint} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketNative(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(int fd, byte[] address, int length);

    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    private static partial int ListenNative(int fd, int backlog);

    [LibraryImport("libc", EntryPoint = "accept", SetLastError = true)]
    private static partial int Accept(int fd, IntPtr address, IntPtr length);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static partial int Connect(int fd, byte[] address, int length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollDescriptor descriptor, nuint count, int timeoutMilliseconds);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    /// <summary>
    /// A bound, listening vsock socket. Accept waits on a thread, polling so that Dispose (which closes nothing while
    /// an accept is under way, to avoid a reused descriptor) can stop it within a fraction of a second.
    /// </summary>
    public sealed class VsockListener : IDisposable
    {
        private const short PollIn = 1;
        private const int PollIntervalMilliseconds = 200;
        private readonly int _fd;
        private readonly object _gate = new();
        private bool _accepting;
        private bool _disposed;
        private bool _closed;

        internal VsockListener(int fd, EnclaveEndpoint endpoint)
        {
            _fd = fd;
            Endpoint = endpoint;
        }

        public EnclaveEndpoint Endpoint { get; }

        /// <summary>Waits for the next connection; returns null once the listener is disposed. One accept at a time.</summary>
        public Task<Stream?> AcceptAsync() => Task.Factory.StartNew(AcceptBlocking, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                if (!_accepting)
                {
                    CloseOnce();
                }
            }
        }

        private Stream? AcceptBlocking()
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return null;
                }

                _accepting = true;
            }

            try
            {
                while (true)
                {
                    var descriptor = new PollDescriptor { Fd = _fd, Events = PollIn };
                    var ready = Poll(ref descriptor, 1, PollIntervalMilliseconds);
                    lock (_gate)
                    {
                        if (_disposed)
                        {
                            return null;
                        }
                    }

                    if (ready > 0)
                    {
                        var connection = Accept(_fd, IntPtr.Zero, IntPtr.Zero);
                        if (connection >= 0)
                        {
                            return new NetworkStream(new Socket(new SafeSocketHandle(connection, ownsHandle: true)), ownsSocket: true);
                        }

                        throw Failure(Endpoint, "accept", Marshal.GetLastPInvokeError());
                    }
                }
            }
            finally
            {
                lock (_gate)
                {
                    _accepting = false;
                    if (_disposed)
                    {
                        CloseOnce();
                    }
                }
            }
        }

        private void CloseOnce()
        {
            if (!_closed)
            {
                _closed = true;
                _ = Close(_fd);
            }
        }
    }
}
