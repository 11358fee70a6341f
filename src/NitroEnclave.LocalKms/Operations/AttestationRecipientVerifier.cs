using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NitroEnclave.Attestation;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Operations;

/// <summary>
/// Accepts a Recipient only when its attestation document verifies: COSE signature, certificate chain to one of the
/// configured roots (real KMS trusts only the AWS Nitro root), a timestamp no older than the allowed age (five minutes,
/// as KMS) and not more than the allowed clock skew ahead, and an RSA public_key of at least 2048 bits.
/// A document that parses but fails verification is refused with AccessDeniedException: nothing it claims
/// (PCRs, public key) is used. A malformed document or public_key is a ValidationException.
/// </summary>
/// <remarks>
/// The five minutes: the AWS pages checked (KMS developer guide on attested calls, API reference for RecipientInfo and
/// Decrypt; listed in docs/local-kms.md) state no figure. It is the limit RecipientKeyPolicy.KmsDocumentLimit keeps
/// under, and public client code retries when KMS refuses a document for its "five-minute age limit".
/// </remarks>
internal sealed class AttestationRecipientVerifier : IRecipientVerifier
{
    private const int MinRsaKeyBits = 2048;

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
            throw KmsFault.AccessDenied(result.Failures.All(f => f.Rule is AttestationRules.DocumentTooOld or AttestationRules.TimestampInFuture)
                ? StaleMessage(result.Failures[0])
                : "The attestation document in the Recipient parameter is not valid: " + string.Join("; ", result.Failures));
        }

        if (document.PublicKey is not { } publicKey)
        {
            throw KmsFault.Validation("The attestation document in the Recipient parameter has no public_key to encrypt the response to.");
        }

        RequireRecipientKey(publicKey);
        return new VerifiedRecipient(publicKey, document.PcrHex);
    }

    private string StaleMessage(AttestationFailure failure) => failure.Rule == AttestationRules.DocumentTooOld
        ? $"The attestation document in the Recipient parameter has exceeded the {_maxAge.TotalMinutes:0.##}-minute age limit: {failure.Reason}"
        : $"The attestation document in the Recipient parameter is dated ahead of this endpoint's clock: {failure.Reason}";

    /// <summary>
    /// The public_key must be exactly one DER SubjectPublicKeyInfo of an RSA key of at least 2048 bits: smaller keys are
    /// too weak (and too short for an OAEP-SHA-256 wrap of a 32-byte key), and trailing bytes mean a malformed field.
    /// </summary>
    private static void RequireRecipientKey(byte[] publicKey)
    {
        using var rsa = RSA.Create();
        int read;
        try
        {
            rsa.ImportSubjectPublicKeyInfo(publicKey, out read);
        }
        catch (CryptographicException)
        {
            throw KmsFault.Validation("The public_key of the attestation document is not an RSA SubjectPublicKeyInfo, as RSAES_OAEP_SHA_256 needs.");
        }

        if (read != publicKey.Length)
        {
            throw KmsFault.Validation($"The public_key of the attestation document has {publicKey.Length - read} bytes after its SubjectPublicKeyInfo.");
        }

        if (rsa.KeySize < MinRsaKeyBits)
        {
            throw KmsFault.Validation($"The public_key of the attestation document is an RSA-{rsa.KeySize} key; RSAES_OAEP_SHA_256 needs at least {MinRsaKeyBits} bits.");
        }
    }
}
