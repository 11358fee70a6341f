namespace NitroEnclave.Attestation;

/// <summary>The stable error ids of attestation parsing and of the Nitro Security Module clients.</summary>
public static class AttestationErrors
{
    /// <summary>The bytes are not a well-formed attestation document (COSE, CBOR, field types or certificates).</summary>
    public const string Malformed = "AttestationMalformed";

    /// <summary>An input given as a document is none of: bytes, base64 text, a file, or an object with a Document property.</summary>
    public const string InputInvalid = "AttestationInputInvalid";

    /// <summary>A trusted root given by the caller cannot be read or is not a CA certificate.</summary>
    public const string TrustedRootInvalid = "AttestationTrustedRootInvalid";

    /// <summary>A caller's expectation (PCR index or hex value, nonce) is itself invalid.</summary>
    public const string ExpectationInvalid = "AttestationExpectationInvalid";

    /// <summary>The Nitro Security Module device (/dev/nsm) does not exist on this machine.</summary>
    public const string NsmDeviceNotFound = "NsmDeviceNotFound";

    /// <summary>The device exists but this process may not open it.</summary>
    public const string NsmDeviceAccessDenied = "NsmDeviceAccessDenied";

    /// <summary>Opening the device or the ioctl exchange failed.</summary>
    public const string NsmDeviceError = "NsmDeviceError";

    /// <summary>The security module answered with an Error response (its code is in the message).</summary>
    public const string NsmError = "NsmError";

    /// <summary>A request or response is not a well-formed NSM message, or the response does not answer the request.</summary>
    public const string NsmMessageMalformed = "NsmMessageMalformed";

    /// <summary>An encoded request is larger than the module accepts (4096 bytes).</summary>
    public const string NsmRequestTooLarge = "NsmRequestTooLarge";

    /// <summary>A simulated security module's saved chain is missing files or does not hang together.</summary>
    public const string SimulatedNsmStoreInvalid = "SimulatedNsmStoreInvalid";

    internal static NitroEnclaveException MalformedDocument(string detail, Exception? inner = null) =>
        new(Malformed, ErrorKind.InvalidData, "Malformed attestation document: " + detail, inner);
}

/// <summary>
/// The stable ids of the rules an attestation document is checked against. Every failed check in an
/// <see cref="AttestationResult"/> names one of these.
/// </summary>
public static class AttestationRules
{
    public const string AlgorithmUnsupported = "AlgorithmUnsupported";
    public const string SignatureInvalid = "SignatureInvalid";
    public const string ModuleIdMissing = "ModuleIdMissing";
    public const string DigestUnsupported = "DigestUnsupported";
    public const string PcrCountInvalid = "PcrCountInvalid";
    public const string PcrIndexInvalid = "PcrIndexInvalid";
    public const string PcrLengthInvalid = "PcrLengthInvalid";
    public const string CaBundleInvalid = "CaBundleInvalid";
    public const string PublicKeyInvalid = "PublicKeyInvalid";
    public const string UserDataInvalid = "UserDataInvalid";
    public const string NonceInvalid = "NonceInvalid";
    public const string CertificateKeyUnsupported = "CertificateKeyUnsupported";
    public const string ChainBroken = "ChainBroken";
    public const string ChainUntrusted = "ChainUntrusted";
    public const string BasicConstraintsInvalid = "BasicConstraintsInvalid";
    public const string PathLengthExceeded = "PathLengthExceeded";
    public const string KeyUsageInvalid = "KeyUsageInvalid";
    public const string CriticalExtensionUnknown = "CriticalExtensionUnknown";
    public const string CertificateExpired = "CertificateExpired";
    public const string CertificateNotYetValid = "CertificateNotYetValid";
    public const string CertificateInvalidAtTimestamp = "CertificateInvalidAtTimestamp";
    public const string TimestampInFuture = "TimestampInFuture";
    public const string DocumentTooOld = "DocumentTooOld";
    public const string PcrMismatch = "PcrMismatch";
    public const string NonceMismatch = "NonceMismatch";
    public const string UserDataMismatch = "UserDataMismatch";
    public const string PublicKeyMismatch = "PublicKeyMismatch";
}
