using System.Diagnostics;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// Accepts connections and serves protocol requests (docs/protocol.md): bounded connections, parallelism and memory,
/// deadlines for the first frame, a whole frame, idle gaps and each request, stalled peers dropped when others need
/// their place, every failure answered with a stable code, and a shutdown that finishes requests in flight.
/// </summary>
public sealed class EnclaveServer : IAsyncDisposable
{
    private readonly ServerOptions _options;
    private readonly RequestHandler _handler;
    private readonly StructuredLog _log;
    private readonly SemaphoreSlim _connections;
    private readonly SemaphoreSlim _requests;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _abortRequests = new();
    private readonly List<Task> _inFlight = [];
    private readonly List<Peer> _peers = [];
    private IConnectionSource? _source;
    private Task? _acceptLoop;
    private long _connectionIds;

    public EnclaveServer(ServerOptions options, RequestHandler handler, StructuredLog log, MemoryBudget? memory = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _connections = new SemaphoreSlim(options.MaxConnections);
        _requests = new SemaphoreSlim(options.MaxConcurrentRequests);
        Memory = memory ?? new MemoryBudget(options.MemoryBudgetBytes);
        Memory.Relief = () => DropStalledPeer(holdingMemory: true, "memory");
    }

    /// <summary>The budget that frames, plaintext and pixels are reserved from.</summary>
    public MemoryBudget Memory { get; }

    /// <summary>The endpoint bound by Start.</summary>
    public EnclaveEndpoint Endpoint => _source?.Endpoint ?? throw new InvalidOperationException("The server has not started.");

    /// <summary>Binds the endpoint and starts accepting; returns once connections can be made.</summary>
    public EnclaveEndpoint Start()
    {
        _source = ConnectionSource.Bind(_options.Listen);
        _acceptLoop = Task.Run(AcceptLoopAsync);
        return _source.Endpoint;
    }

    /// <summary>Stops accepting, lets requests in flight finish within the grace period, then aborts the rest.</summary>
    public async Task StopAsync()
    {
        if (_stopAccepting.IsCancellationRequested)
        {
            return;
        }

        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        _source?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        Task[] pending;
        lock (_inFlight)
        {
            pending = [.. _inFlight];
        }

        if (await Task.WhenAny(Task.WhenAll(pending), Task.Delay(_options.ShutdownGrace)).ConfigureAwait(false) != Task.WhenAll(pending))
        {
            await _abortRequests.CancelAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
        _log.Info("stopped", ("connectionsServed", Interlocked.Read(ref _connectionIds)));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopAccepting.Dispose();
        _abortRequests.Dispose();
        _connections.Dispose();
        _requests.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopAccepting.IsCancellationRequested)
        {
            Stream? connection;
            try
            {
                connection = await _source!.AcceptAsync(_stopAccepting.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is EnclaveProtocolException or IOException)
            {
                _log.Error("accept-failed", ("reason", ex.Message));
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }

            if (connection is null)
            {
                break;
            }

            var id = Interlocked.Increment(ref _connectionIds);
            var task = ServeConnectionAsync(connection, id);
            lock (_inFlight)
            {
                _inFlight.Add(task);
            }

            _ = task.ContinueWith(
                t =>
                {
                    lock (_inFlight)
                    {
                        _inFlight.Remove(t);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    private async Task ServeConnectionAsync(Stream connection, long id)
    {
        await Task.Yield();
        await using var _ = connection.ConfigureAwait(false);
        if (!await _connections.WaitAsync(0).ConfigureAwait(false)
            && !(DropStalledPeer(holdingMemory: false, "connections") && await _connections.WaitAsync(_options.StalledPeerGrace).ConfigureAwait(false)))
        {
            _log.Warn("connection-refused", ("conn", id), ("code", ProtocolErrorCodes.Busy));
            await TryAnswerAsync(connection, ProtocolCodec.EncodeError(ProtocolErrorCodes.Busy, "The server has too many connections; retry later."), id).ConfigureAwait(false);
            await CloseGracefullyAsync(connection).ConfigureAwait(false);
            return;
        }

        using var peer = new Peer(id);
        lock (_peers)
        {
            _peers.Add(peer);
        }

        try
        {
            for (var first = true; !_stopAccepting.IsCancellationRequested; first = false)
            {
                if (!await ServeOneRequestAsync(connection, peer, first).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            // Last line of defence: one connection's failure never reaches the accept loop.
            _log.Error("connection-failed", ("conn", id), ("type", ex.GetType().Name));
        }
        finally
        {
            lock (_peers)
            {
                _peers.Remove(peer);
            }

            _connections.Release();
        }
    }

    /// <summary>
    /// Drops the connection whose current request has been pending longest (its frame not yet complete, or waiting in
    /// line), if longer than the grace period. A legitimate peer sends a frame in milliseconds, so the slow, the
    /// stalled and those that hog memory give way to a peer that needs a connection or memory; requests being
    /// processed are never dropped.
    /// </summary>
    private bool DropStalledPeer(bool holdingMemory, string reason)
    {
        Peer? victim = null;
        lock (_peers)
        {
            foreach (var peer in _peers)
            {
                if (!peer.Serving && (!holdingMemory || peer.Memory is { Held: > 0 }) && peer.Pending >= _options.StalledPeerGrace && (victim is null || peer.Pending > victim.Pending))
                {
                    victim = peer;
                }
            }

            if (victim is null || !victim.TryDrop())
            {
                return false;
            }
        }

        _log.Warn("peer-dropped", ("conn", victim.Id), ("for", reason), ("pendingMs", (long)victim.Pending.TotalMilliseconds));
        return true;
    }

    /// <summary>Reads, processes and answers one request; false when the connection should close.</summary>
    private async Task<bool> ServeOneRequestAsync(Stream connection, Peer peer, bool first)
    {
        var id = peer.Id;
        peer.BeginRequest();
        int? length;
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(_stopAccepting.Token, peer.Dropped))
        {
            // A new connection must start its frame soon; an open one may rest between requests.
            wait.CancelAfter(first ? _options.FirstFrameTimeout : _options.IdleTimeout);
            try
            {
                length = await Framing.ReadFrameLengthAsync(connection, _options.MaxFrameBytes, wait.Token).ConfigureAwait(false);
            }
            catch (EnclaveProtocolException ex)
            {
                // A bad length: the rest of the stream cannot be trusted to be framed, so answer and close.
                _log.Warn("bad-frame", ("conn", id), ("code", ex.Code));
                await TryAnswerAsync(connection, ProtocolCodec.EncodeError(ex.Code, ex.Message), id).ConfigureAwait(false);
                await CloseGracefullyAsync(connection).ConfigureAwait(false);
                return false;
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException)
            {
                _log.Debug("connection-closed", ("conn", id), ("reason", ex is OperationCanceledException ? (first ? "no-first-frame" : "idle") : "peer"));
                return false;
            }
        }

        if (length is null)
        {
            return false;
        }

        if (2L * length.Value > Memory.Capacity)
        {
            // The frame and the file decoded from it could never fit at once: refuse it before reading its body.
            _log.Warn("frame-refused", ("conn", id), ("code", ProtocolErrorCodes.PayloadTooLarge), ("bytes", length.Value));
            var message = $"A frame of {length.Value} bytes cannot fit the server's memory budget of {Memory.Capacity >> 20} MiB.";
            await TryAnswerAsync(connection, ProtocolCodec.EncodeError(ProtocolErrorCodes.PayloadTooLarge, message), id).ConfigureAwait(false);
            await CloseGracefullyAsync(connection).ConfigureAwait(false);
            return false;
        }

        var watch = Stopwatch.StartNew();
        using var memory = Memory.Lease();
        peer.Memory = memory;
        byte[] frame;
        using (var receive = CancellationTokenSource.CreateLinkedTokenSource(_stopAccepting.Token, peer.Dropped))
        {
            receive.CancelAfter(_options.FrameTimeout);
            try
            {
                frame = await ReceiveFrameBodyAsync(connection, length.Value, memory, receive.Token).ConfigureAwait(false);
            }
            catch (EnclaveProtocolException ex)
            {
                // No memory for the rest of the frame: refuse it; the stream is no longer framed, so close.
                _log.Warn("frame-refused", ("conn", id), ("code", ex.Code), ("bytes", length.Value));
                await TryAnswerAsync(connection, ProtocolCodec.EncodeError(ex.Code, ex.Message), id).ConfigureAwait(false);
                await CloseGracefullyAsync(connection).ConfigureAwait(false);
                return false;
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException)
            {
                var reason = ex is OperationCanceledException ? (peer.Dropped.IsCancellationRequested ? "dropped" : "frame-timeout") : "peer";
                _log.Debug("connection-closed", ("conn", id), ("reason", reason), ("bytes", length.Value));
                return false;
            }
        }

        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_abortRequests.Token);
            deadline.CancelAfter(_options.RequestTimeout);
            var (response, operation, code) = await ProcessAsync(frame, memory, peer, deadline.Token).ConfigureAwait(false);
            var answered = await TryAnswerAsync(connection, response, id).ConfigureAwait(false);
            _log.Info("request", ("conn", id), ("op", operation), ("code", code), ("bytesIn", frame.Length), ("bytesOut", response.Length), ("ms", watch.Elapsed.TotalMilliseconds));
            return answered;
        }
        finally
        {
            peer.Memory = null;
            peer.Serving = false;
        }
    }

    /// <summary>
    /// Reads a frame body into a buffer that grows with what has actually arrived (doubling from 64 KiB), each step
    /// reserved from the memory budget: an announced length costs nothing until its bytes come.
    /// </summary>
    private static async Task<byte[]> ReceiveFrameBodyAsync(Stream connection, int length, MemoryLease memory, CancellationToken cancellationToken)
    {
        const int FirstPiece = 64 << 10;
        var buffer = Array.Empty<byte>();
        var filled = 0;
        while (filled < length)
        {
            if (filled == buffer.Length)
            {
                var size = (int)Math.Min(length, Math.Max(FirstPiece, 2L * buffer.Length));
                await memory.ReserveAsync(size, DetectionService.MemoryWait, "the request frame", cancellationToken).ConfigureAwait(false);
                var larger = new byte[size];
                buffer.AsSpan(0, filled).CopyTo(larger);
                memory.Return(buffer.Length);
                buffer = larger;
            }

            var read = await connection.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException($"The connection ended inside a frame of {length} bytes.");
            }

            filled += read;
        }

        return buffer;
    }

    private async Task<(byte[] Response, string Operation, string Code)> ProcessAsync(byte[] frame, MemoryLease memory, Peer peer, CancellationToken deadline)
    {
        var operation = "unknown";
        try
        {
            // Decoding copies the file out of the frame; nothing decoded is larger than the frame.
            await memory.ReserveAsync(frame.Length, DetectionService.MemoryWait, "decoding the request", deadline).ConfigureAwait(false);
            var request = ProtocolCodec.DecodeRequest(frame);
            operation = request.Operation;
            if (request is DescribeRequest)
            {
                return (_handler.Describe(), operation, "OK");
            }

            if (!await WaitInLineAsync(peer, deadline).ConfigureAwait(false))
            {
                return (ProtocolCodec.EncodeError(ProtocolErrorCodes.Busy, "The server is at its request limit; retry later."), operation, ProtocolErrorCodes.Busy);
            }

            peer.Serving = true;
            try
            {
                return (await _handler.HandleAsync(request, memory, deadline).ConfigureAwait(false), operation, "OK");
            }
            finally
            {
                _requests.Release();
            }
        }
        catch (EnclaveProtocolException ex)
        {
            return (ProtocolCodec.EncodeError(ex.Code, ex.Message), operation, ex.Code);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            var message = _abortRequests.IsCancellationRequested ? "The server is shutting down." : $"The request took longer than {_options.RequestTimeout.TotalSeconds:0} s.";
            return (ProtocolCodec.EncodeError(ProtocolErrorCodes.Timeout, message), operation, ProtocolErrorCodes.Timeout);
        }
        catch (Exception ex)
        {
            _log.Error("internal-error", ("op", operation), ("type", ex.GetType().FullName));
            return (ProtocolCodec.EncodeError(ProtocolErrorCodes.Internal, "The server failed unexpectedly; see its log."), operation, ProtocolErrorCodes.Internal);
        }
    }

    /// <summary>Waits for a processing slot; false when the wait is too long or the peer was dropped for another.</summary>
    private async Task<bool> WaitInLineAsync(Peer peer, CancellationToken deadline)
    {
        using var line = CancellationTokenSource.CreateLinkedTokenSource(deadline, peer.Dropped);
        try
        {
            return await _requests.WaitAsync(_options.QueueTimeout, line.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (peer.Dropped.IsCancellationRequested && !deadline.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Ends a connection the server refused while the client may still be sending: closing with unread data would reset
    /// the connection and could destroy the answer before the client reads it, so the server stops sending, then reads
    /// and discards a bounded amount for a short while before it closes.
    /// </summary>
    private static async Task CloseGracefullyAsync(Stream connection)
    {
        const int MaxDrainBytes = 1 << 20;
        try
        {
            if (connection is System.Net.Sockets.NetworkStream network)
            {
                network.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            }

            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var buffer = new byte[16 << 10];
            for (var drained = 0; drained < MaxDrainBytes;)
            {
                var read = await connection.ReadAsync(buffer, limit.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                drained += read;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // The peer is gone or slow: close anyway.
        }
    }

    private async Task<bool> TryAnswerAsync(Stream connection, byte[] response, long id)
    {
        using var timeout = new CancellationTokenSource(_options.IdleTimeout);
        try
        {
            await Framing.WriteFrameAsync(connection, response, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _log.Debug("answer-lost", ("conn", id), ("reason", ex.GetType().Name));
            return false;
        }
    }

    /// <summary>What the server knows of one open connection, to choose which one gives way.</summary>
    private sealed class Peer(long id) : IDisposable
    {
        private readonly CancellationTokenSource _dropped = new();
        private long _requestStarted = Environment.TickCount64;

        public long Id => id;

        public CancellationToken Dropped => _dropped.Token;

        /// <summary>The memory of the request being received or served, if any.</summary>
        public MemoryLease? Memory { get; set; }

        /// <summary>True while a complete request is being processed or answered: such a peer is never dropped.</summary>
        public bool Serving { get; set; }

        /// <summary>How long the current request has been pending: since the connection opened or its last answer.</summary>
        public TimeSpan Pending => TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _requestStarted));

        public void BeginRequest() => Interlocked.Exchange(ref _requestStarted, Environment.TickCount64);

        public bool TryDrop()
        {
            if (_dropped.IsCancellationRequested)
            {
                return false;
            }

            _dropped.Cancel();
            return true;
        }

        public void Dispose() => _dropped.Dispose();
    }
}
