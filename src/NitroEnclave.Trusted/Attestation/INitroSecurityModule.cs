namespace NitroEnclave.Attestation;

/// <summary>The operations of the Nitro Security Module, as an enclave sees them.</summary>
public interface INitroSecurityModule : IDisposable
{
    /// <summary>Asks for a signed attestation document carrying the given fields (each optional).</summary>
    byte[] Attestation(byte[]? userData = null, byte[]? nonce = null, byte[]? publicKey = null);

    NsmPcr DescribePcr(int index);

    /// <summary>Extends a PCR: new = SHA384(old || data). Returns the new value.</summary>
    byte[] ExtendPcr(int index, byte[] data);

    /// <summary>Locks a PCR so it can no longer be extended.</summary>
    void LockPcr(int index);

    /// <summary>Random bytes from the module's generator.</summary>
    byte[] GetRandom();

    NsmDescription DescribeNsm();
}

/// <summary>
/// The request/response side shared by the real device and the simulation: every call is encoded with
/// <see cref="NsmCodec"/>, exchanged as bytes, decoded, and Error responses become <see cref="AttestationErrors.NsmError"/>.
/// </summary>
public abstract class NitroSecurityModuleClient : INitroSecurityModule
{
    public byte[] Attestation(byte[]? userData = null, byte[]? nonce = null, byte[]? publicKey = null) =>
        Send<NsmAttestationResponse>(new NsmAttestationRequest(userData, nonce, publicKey)).Document;

    public NsmPcr DescribePcr(int index)
    {
        var response = Send<NsmDescribePcrResponse>(new NsmDescribePcrRequest(RequireIndex(index)));
        return new NsmPcr(index, response.Locked, response.Data);
    }

    public byte[] ExtendPcr(int index, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Send<NsmExtendPcrResponse>(new NsmExtendPcrRequest(RequireIndex(index), data)).Data;
    }

    public void LockPcr(int index) => Send<NsmLockPcrResponse>(new NsmLockPcrRequest(RequireIndex(index)));

    public byte[] GetRandom() => Send<NsmGetRandomResponse>(NsmBareRequest.GetRandom).Random;

    public NsmDescription DescribeNsm() => Send<NsmDescribeNsmResponse>(NsmBareRequest.DescribeNsm).Description;

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Sends one encoded request and returns the encoded response.</summary>
    protected abstract byte[] Exchange(byte[] request);

    private T Send<T>(NsmRequest request)
        where T : NsmResponse
    {
        var encoded = NsmCodec.EncodeRequest(request);
        if (encoded.Length > NsmCodec.MaxRequestSize)
        {
            throw new NitroEnclaveException(AttestationErrors.NsmRequestTooLarge, ErrorKind.InvalidArgument, $"The {request.Name} request is {encoded.Length} bytes; the module accepts at most {NsmCodec.MaxRequestSize}.");
        }

        return NsmCodec.DecodeResponse(Exchange(encoded)) switch
        {
            T expected => expected,
            NsmErrorResponse error => throw new NitroEnclaveException(AttestationErrors.NsmError, ErrorKind.InvalidOperation, $"The security module refused the {request.Name} request: {error.Code}."),
            var other => throw new NitroEnclaveException(AttestationErrors.NsmMessageMalformed, ErrorKind.InvalidData, $"The security module answered a {request.Name} request with a {other.Name} response."),
        };
    }

    // PCR indexes travel as u16; anything beyond that cannot even be encoded.
    private static int RequireIndex(int index) => index is >= 0 and <= ushort.MaxValue
        ? index
        : throw new NitroEnclaveException(AttestationErrors.NsmError, ErrorKind.InvalidArgument, $"PCR index {index} is out of range.");
}
