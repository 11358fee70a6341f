namespace NitroEnclave.KmsPolicy;

/// <summary>
/// The stable error ids of key-policy editing and the enclave-policy cmdlets. Failures of the KMS calls themselves use
/// the ids of <see cref="Envelope.EnvelopeErrors"/> (KmsKeyNotFound, KmsAccessDenied, KmsUnavailable, KmsRequestFailed).
/// </summary>
public static class KeyPolicyErrors
{
    public const string PolicyInvalid = "KeyPolicyInvalid";
    public const string MeasurementInvalid = "EnclaveMeasurementInvalid";
    public const string MeasurementAllZero = "EnclaveMeasurementAllZero";
    public const string MeasurementMissing = "EnclaveMeasurementMissing";
    public const string ImageSha384Mismatch = "EnclaveImageSha384Mismatch";
    public const string PrincipalInvalid = "KeyPolicyPrincipalInvalid";
    public const string Lockout = "KeyPolicyLockout";

    /// <summary>KMS refused the new policy (MalformedPolicyDocumentException, which includes KMS's own lockout check).</summary>
    public const string PolicyRejected = "KmsKeyPolicyRejected";
}
