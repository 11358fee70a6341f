using System.Diagnostics;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// Accepts connections and serves protocol requests (docs/protocol.md): bounded connections and parallelism, idle and
/// per-request timeouts, every failure answered with a stable code, and a shutdown that finishes requests in flight.
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
    private IConnectionSource? _source;
    private Task? _acceptLoop;
    private long _connectionIds;

    public EnclaveServer(ServerOptions options, RequestHandler handler, StructuredLog log)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _connections = new SemaphoreSlim(options.MaxConnections);
        _requests = new SemaphoreSlim(options.MaxConcurrentRequests);
    }

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
        if (!await _connections.WaitAsync(0).ConfigureAwait(false))
        {
            _log.Warn("connection-refused", ("conn", id), ("code", ProtocolErrorCodes.Busy));
            await TryAnswerAsync(connection, ProtocolCodec.EncodeError(ProtocolErrorCodes.Busy, "The server has too many connections; retry later."), id).ConfigureAwait(false);
            await CloseGracefullyAsync(connection).ConfigureAwait(false);
            return;
        }

        try
        {
            while (!_stopAccepting.IsCancellationRequested)
            {
                if (!await ServeOneRequestAsync(connection, id).ConfigureAwait(false))
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
            _connections.Release();
        }
    }

    /// <summary>Reads, processes and answers one request; false when the connection should close.</summary>
    private async Task<bool> ServeOneRequestAsync(Stream connection, long id)
    {
        byte[]? frame;
        using (var idle = CancellationTokenSource.CreateLinkedTokenSource(_stopAccepting.Token))
        {
            idle.CancelAfter(_options.IdleTimeout);
            try
            {
                frame = await Framing.ReadFrameAsync(connection, _options.MaxFrameBytes, idle.Token).ConfigureAwait(false);
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
                _log.Debug("connection-closed", ("conn", id), ("reason", ex is OperationCanceledException ? "idle" : "peer"));
                return false;
            }
        }

        if (frame is null)
        {
            return false;
        }

        var watch = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_abortRequests.Token);
        deadline.CancelAfter(_options.RequestTimeout);
        var (response, operation, code) = await ProcessAsync(frame, deadline.Token).ConfigureAwait(false);
        var answered = await TryAnswerAsync(connection, response, id).ConfigureAwait(false);
        _log.Info("request", ("conn", id), ("op", operation), ("code", code), ("bytesIn", frame.Length), ("bytesOut", response.Length), ("ms", watch.Elapsed.TotalMilliseconds));
        return answered;
    }

    private async Task<(byte[] Response, string Operation, string Code)> ProcessAsync(byte[] frame, CancellationToken deadline)
    {
        var operation = "unknown";
        try
        {
            var request = ProtocolCodec.DecodeRequest(frame);
            operation = request.Operation;
            if (request is DescribeRequest)
            {
                return (_handler.Describe(), operation, "OK");
            }

            if (!await _requests.WaitAsync(_options.QueueTimeout, deadline).ConfigureAwait(false))
            {
                return (ProtocolCodec.EncodeError(ProtocolErrorCodes.Busy, "The server is at its request limit; retry later."), operation, ProtocolErrorCodes.Busy);
            }

            try
            {
                return (await _handler.HandleAsync(request, deadline).ConfigureAwait(false), operation, "OK");
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
}
