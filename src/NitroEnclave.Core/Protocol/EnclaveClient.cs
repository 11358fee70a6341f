namespace NitroEnclave.Protocol;

/// <summary>
/// Talks to the enclave server: a frame out and a frame back per call, with a deadline. By default each call has its
/// own connection; with reuseConnections a finished call's connection waits in a small idle pool for the next call,
/// which saves a connect (and on vsock a round trip through the hypervisor) per request. The server may close an idle
/// connection at any time, so a reused connection that fails before any answer is retried once on a fresh one (every
/// request is safe to repeat: none changes the server's state). Server errors come back as EnclaveProtocolException
/// carrying the server's code.
/// </summary>
public sealed class EnclaveClient : IDisposable
{
    /// <summary>More idle connections than this are closed: enough for the largest useful number of calls at once.</summary>
    public const int MaxIdleConnections = 16;

    private readonly Stack<Stream> _idle = new();
    private readonly bool _reuseConnections;
    private int _connectionsOpened;
    private bool _disposed;

    public EnclaveClient(EnclaveEndpoint endpoint, TimeSpan? timeout = null, int maxFrameSize = Framing.DefaultMaxFrameSize, bool reuseConnections = false)
    {
        Endpoint = endpoint ?? throw new ArgumentNullException(nameof(endpoint));
        Timeout = timeout ?? TimeSpan.FromSeconds(60);
        MaxFrameSize = maxFrameSize;
        _reuseConnections = reuseConnections;
    }

    public EnclaveEndpoint Endpoint { get; }

    public TimeSpan Timeout { get; }

    public int MaxFrameSize { get; }

    /// <summary>
    /// Hears of each request and answer: the operation, the server and the size in bytes, never the content (a Detect
    /// request carries AWS credentials). Called on whichever thread runs the call.
    /// </summary>
    public Action<string>? Trace { get; init; }

    /// <summary>Connections this client has opened so far.</summary>
    public int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    public async Task<ServerDescription> DescribeAsync(CancellationToken cancellationToken) =>
        ProtocolCodec.DecodeDescribeResponse(await ExchangeAsync(new DescribeRequest(), cancellationToken).ConfigureAwait(false));

    public async Task<byte[]> AttestAsync(AttestRequest request, CancellationToken cancellationToken) =>
        ProtocolCodec.DecodeAttestResponse(await ExchangeAsync(request, cancellationToken).ConfigureAwait(false));

    public async Task<DetectResponse> DetectAsync(DetectRequest request, CancellationToken cancellationToken) =>
        ProtocolCodec.DecodeDetectResponse(await ExchangeAsync(request, cancellationToken).ConfigureAwait(false));

    /// <summary>A Detect with a result key: the answer holds only ciphertexts.</summary>
    public async Task<ConfidentialDetectResponse> DetectConfidentialAsync(DetectRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Result is null)
        {
            throw new ArgumentException("A confidential Detect needs a result key.", nameof(request));
        }

        return ProtocolCodec.DecodeConfidentialDetectResponse(await ExchangeAsync(request, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Closes the idle connections; calls still running close theirs when they finish.</summary>
    public void Dispose()
    {
        Stream[] idle;
        lock (_idle)
        {
            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        foreach (var stream in idle)
        {
            stream.Dispose();
        }
    }

    private async Task<byte[]?> TryReadAnswerAsync(Stream stream, CancellationToken cancellationToken)
    {
        try
        {
            return await Framing.ReadFrameAsync(stream, MaxFrameSize, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or EnclaveProtocolException)
        {
            return null;
        }
    }

    private async Task<byte[]> ExchangeAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var payload = ProtocolCodec.EncodeRequest(request);
        if (payload.Length > MaxFrameSize)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.PayloadTooLarge, $"The request is {payload.Length} bytes; the frame limit is {MaxFrameSize} bytes.");
        }

        Trace?.Invoke($"{request.Operation} request to {Endpoint}: {payload.Length:N0} bytes");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        try
        {
            var answer = TakeIdle() is { } reused ? await TryExchangeOnReusedAsync(reused, payload, deadline.Token).ConfigureAwait(false) : null;
            if (answer is null)
            {
                var stream = await Endpoint.ConnectAsync(deadline.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _connectionsOpened);
                answer = await ExchangeOnFreshAsync(stream, payload, deadline.Token).ConfigureAwait(false);
            }

            Trace?.Invoke($"{request.Operation} answer from {Endpoint}: {answer.Length:N0} bytes");
            return answer;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.Timeout, $"The enclave server at {Endpoint} did not answer within {Timeout.TotalSeconds:0} s.");
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, $"The connection to the enclave server at {Endpoint} failed: {ex.Message}", ex);
        }
    }

    /// <summary>The answer, or null when the connection failed before any of it arrived (the server had closed it).</summary>
    private async Task<byte[]?> TryExchangeOnReusedAsync(Stream stream, byte[] payload, CancellationToken cancellationToken)
    {
        byte[]? answer = null;
        try
        {
            await Framing.WriteFrameAsync(stream, payload, cancellationToken).ConfigureAwait(false);
            answer = await Framing.ReadFrameAsync(stream, MaxFrameSize, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Closed or reset before the answer began: retry on a fresh connection. A truncated answer is not retried.
        }
        finally
        {
            if (answer is null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }

        if (answer is not null)
        {
            Return(stream);
        }

        return answer;
    }

    private async Task<byte[]> ExchangeOnFreshAsync(Stream stream, byte[] payload, CancellationToken cancellationToken)
    {
        var keep = false;
        try
        {
            try
            {
                await Framing.WriteFrameAsync(stream, payload, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The server may have refused the request before reading it all (Busy, PayloadTooLarge): its answer says why.
                if (await TryReadAnswerAsync(stream, cancellationToken).ConfigureAwait(false) is { } early)
                {
                    return early;
                }

                throw;
            }

            var answer = await Framing.ReadFrameAsync(stream, MaxFrameSize, cancellationToken).ConfigureAwait(false)
                ?? throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, $"The enclave server at {Endpoint} closed the connection without answering.");
            keep = _reuseConnections;
            return answer;
        }
        finally
        {
            if (keep)
            {
                Return(stream);
            }
            else
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private Stream? TakeIdle()
    {
        lock (_idle)
        {
            return _idle.TryPop(out var stream) ? stream : null;
        }
    }

    private void Return(Stream stream)
    {
        lock (_idle)
        {
            if (!_disposed && _idle.Count < MaxIdleConnections)
            {
                _idle.Push(stream);
                return;
            }
        }

        stream.Dispose();
    }
}
