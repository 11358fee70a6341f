using NitroEnclave.Attestation;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>Runs a detection for a Detect request: data key from KMS under attestation, decryption, the detector.</summary>
public interface IDetectionService
{
    Task<DetectResponse> DetectAsync(DetectRequest request, CancellationToken cancellationToken);
}

/// <summary>Turns decoded requests into encoded answers. Failures are EnclaveProtocolException with their codes.</summary>
public sealed class RequestHandler
{
    private readonly byte[] _description;
    private readonly INitroSecurityModule _securityModule;
    private readonly IDetectionService? _detection;
    private readonly object _securityModuleGate = new();

    public RequestHandler(ServerDescription description, INitroSecurityModule securityModule, IDetectionService? detection)
    {
        _description = ProtocolCodec.EncodeDescribeResponse(description);
        _securityModule = securityModule ?? throw new ArgumentNullException(nameof(securityModule));
        _detection = detection;
    }

    /// <summary>The Describe answer, encoded once: it never changes while the server runs.</summary>
    public byte[] Describe() => _description;

    public async Task<byte[]> HandleAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        switch (request)
        {
            case AttestRequest attest:
                return ProtocolCodec.EncodeAttestResponse(Attest(attest.UserData, attest.Nonce, attest.PublicKey));
            case DetectRequest detect when _detection is not null:
                return ProtocolCodec.EncodeDetectResponse(await _detection.DetectAsync(detect, cancellationToken).ConfigureAwait(false));
            case DetectRequest:
                throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, "This server has no KMS route or no model configured, so it cannot run Detect.");
            default:
                return Describe();
        }
    }

    /// <summary>A fresh attestation document from the security module (one request at a time, as the device serves them).</summary>
    public byte[] Attest(byte[]? userData, byte[]? nonce, byte[]? publicKey)
    {
        try
        {
            lock (_securityModuleGate)
            {
                return _securityModule.Attestation(userData, nonce, publicKey);
            }
        }
        catch (NitroEnclaveException ex)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, "The security module refused the attestation request: " + ex.Message, ex);
        }
    }
}
