using NitroEnclave.Attestation;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// The server's two uses of the security module's Attestation, one request at a time as the device serves them.
/// A caller's Attest request can bind a nonce and user data, never a public key; only <see cref="NitroEnclave.Kms.RecipientKeys"/>
/// asks for documents carrying a public key, and only for key pairs it generated.
/// </summary>
public sealed class SecurityModuleAccess(INitroSecurityModule securityModule)
{
    private readonly INitroSecurityModule _securityModule = securityModule ?? throw new ArgumentNullException(nameof(securityModule));
    private readonly Lock _gate = new();

    /// <summary>The Attest operation: a fresh document with no public key. A refusal is Unavailable.</summary>
    public byte[] AttestForCaller(byte[]? userData, byte[]? nonce)
    {
        try
        {
            lock (_gate)
            {
                return _securityModule.Attestation(userData, nonce, publicKey: null);
            }
        }
        catch (NitroEnclaveException ex)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.Unavailable, "The security module refused the attestation request: " + ex.Message, ex);
        }
    }

    /// <summary>A document for one of the enclave's own recipient key pairs (RecipientKeys is the only caller).</summary>
    public byte[] AttestRecipientKey(byte[] subjectPublicKeyInfo)
    {
        lock (_gate)
        {
            return _securityModule.Attestation(publicKey: subjectPublicKeyInfo);
        }
    }
}
