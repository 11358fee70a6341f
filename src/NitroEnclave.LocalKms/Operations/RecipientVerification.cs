namespace NitroEnclave.LocalKms.Operations;

/// <summary>What a verified attestation document contributes to a request: where to encrypt the answer, and the PCRs.</summary>
internal sealed record VerifiedRecipient(byte[] SubjectPublicKeyInfo, IReadOnlyDictionary<int, string> Pcrs);

/// <summary>Checks a Recipient's attestation document (signature, chain to a trusted root, freshness).</summary>
internal interface IRecipientVerifier
{
    /// <summary>Returns the verified facts, or throws a KmsException that says why the document is not accepted.</summary>
    VerifiedRecipient Verify(byte[] attestationDocument);
}
