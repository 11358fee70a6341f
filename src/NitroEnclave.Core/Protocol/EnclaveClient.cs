namespace NitroEnclave.Protocol;

/// <summary>
/// Talks to the enclave server: one connection per call, a frame out and a frame back, with a deadline.
/// Server errors come back as EnclaveProtocolException carrying the server's code.
/// </summary>
public sealed class EnclaveClient
{
    public EnclaveClient(EnclaveEndpoint endpoint, TimeSpan? timeout = null, int maxFrameSize = Framing.DefaultMaxFrameSize)
    {
        Endpoint = endpoint ?? throw new ArgumentNullException(nameof(endpoint));
        Timeout = timeout ?? TimeSpan.FromSeconds(60);
        MaxFrameSize = maxFrameSize;
    }

    public EnclaveEndpoint Endpoint { get; }

    public TimeSpan Timeout { get; }

    public int MaxFrameSize { get; }

    public async Task<ServerDescription> DescribeAsync(CancellationToken cancellationToken) =>
        ProtocolCodec.DecodeDescribeResponse(await ExchangeAsync(new DescribeRequest(), cancellationToken).ConfigureAwait(false));

    public async Task<byte[]> AttestAsync(AttestRequest request, CancellationToken cancellationToken) =>
        ProtocolCodec.DecodeAttestResponse(await ExchangeAsync(request, cancellationToken).ConfigureAwait(false));

    public async Task<DetectResponse> DetectAsync(DetectRequest request, CancellationToken cancellationToken) =>
        ProtocolCodec.DecodeDetectResponse(await ExchangeAsync(request, cancellationToken).ConfigureAwait(false));

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
        var payload = ProtocolCodec.EncodeRequest(request);
        if (payload.Length > MaxFrameSize)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.PayloadTooLarge, $"The request is {payload.Length} bytes; the frame limit is {MaxFrameSize} bytes.");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        try
        {
            var stream = await Endpoint.ConnectAsync(deadline.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                try
                {
                    await Framing.WriteFrameAsync(stream, payload, deadline.Token).ConfigureAwait(false);
                }
                catch (IOException)
                {
                    // The server may have refused the request before reading it all (Busy, PayloadTooLarge): its answer says why.
                    if (await TryReadAnswerAsync(stream, deadline.Token).ConfigureAwait(false) is { } early)
                    {
                        return early;
                    }

                    throw;
                }

                return await Framing.ReadFrameAsync(stream, MaxFrameSize, deadline.Token).ConfigureAwait(false)
                    ?? throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, $"The enclave server at {Endpoint} closed the connection without answering.");
            }
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
}
