using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>Runs a detection for a Detect request: data key from KMS under attestation, decryption, the detector.</summary>
public interface IDetectionService
{
    Task<DetectResponse> DetectAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken);

    /// <summary>The same for a request with a result key: only ciphertexts come back.</summary>
    Task<ConfidentialDetectResponse> DetectConfidentialAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken);
}

/// <summary>Turns decoded requests into encoded answers. Failures are EnclaveProtocolException with their codes.</summary>
public sealed class RequestHandler
{
    private readonly byte[] _description;
    private readonly SecurityModuleAccess _securityModule;
    private readonly IDetectionService? _detection;

    public RequestHandler(ServerDescription description, SecurityModuleAccess securityModule, IDetectionService? detection)
    {
        _description = ProtocolCodec.EncodeDescribeResponse(description);
        _securityModule = securityModule ?? throw new ArgumentNullException(nameof(securityModule));
        _detection = detection;
    }

    /// <summary>The Describe answer, encoded once: it never changes while the server runs.</summary>
    public byte[] Describe() => _description;

    public async Task<byte[]> HandleAsync(EnclaveRequest request, MemoryLease memory, CancellationToken cancellationToken)
    {
        switch (request)
        {
            case AttestRequest attest:
                return ProtocolCodec.EncodeAttestResponse(_securityModule.AttestForCaller(attest.UserData, attest.Nonce));
            case DetectRequest { Result: not null } confidential when _detection is not null:
                return ProtocolCodec.EncodeConfidentialDetectResponse(await _detection.DetectConfidentialAsync(confidential, memory, cancellationToken).ConfigureAwait(false));
            case DetectRequest detect when _detection is not null:
                return ProtocolCodec.EncodeDetectResponse(await _detection.DetectAsync(detect, memory, cancellationToken).ConfigureAwait(false));
            case DetectRequest:
                throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, "This server has no KMS route or no model configured, so it cannot run Detect.");
            default:
                return Describe();
        }
    }
}
