using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NitroEnclave.Attestation;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Operations;

/// <summary>
/// Accepts a Recipient only when its attestation document verifies: COSE signature, certificate chain to one of the
/// configured roots (real KMS trusts only the AWS Nitro root), and a timestamp no older than the allowed age.
/// A document that parses but fails verification is refused with AccessDeniedException: nothing it claims
/// (PCRs, public key) is used.
/// </summary>
internal sealed class AttestationRecipientVerifier : IRecipientVerifier
{
    private readonly AttestationVerifier? _verifier;
    private readonly TimeSpan _maxAge;

    public AttestationRecipientVerifier(IReadOnlyList<X509Certificate2> trustedRoots, TimeSpan maxAge, TimeProvider time)
    {
        _verifier = trustedRoots.Count == 0 ? null : new AttestationVerifier(trustedRoots, time);
        _maxAge = maxAge;
    }

    public VerifiedRecipient Verify(byte[] attestationDocument)
    {
        if (_verifier is null)
        {
            throw KmsFault.AccessDenied("This endpoint trusts no attestation root (start it with --trust-root), so it accepts no Recipient.");
        }

        AttestationDocument document;
        try
        {
            document = AttestationDocument.Parse(attestationDocument);
        }
        catch (NitroEnclaveException ex)
        {
            throw KmsFault.Validation("The attestation document in the Recipient parameter is malformed: " + ex.Message);
        }

        var result = _verifier.Verify(document, new AttestationExpectations { MaxAge = _maxAge });
        if (!result.IsValid)
        {
            throw KmsFault.AccessDenied("The attestation document in the Recipient parameter is not valid: " + string.Join("; ", result.Failures));
        }

        if (document.PublicKey is not { } publicKey)
        {
            throw KmsFault.Validation("The attestation document in the Recipient parameter has no public_key to encrypt the response to.");
        }

        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(publicKey, out _);
        }
        catch (CryptographicException)
        {
            throw KmsFault.Validation("The public_key of the attestation document is not an RSA SubjectPublicKeyInfo, as RSAES_OAEP_SHA_256 needs.");
        }

        return new VerifiedRecipient(publicKey, document.PcrHex);
    }
}
