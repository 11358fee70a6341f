namespace NitroEnclave.KmsPolicy;

/// <summary>The stable error ids of key-policy editing and the enclave-policy cmdlets.</summary>
public static class KeyPolicyErrors
{
    public const string PolicyInvalid = "KeyPolicyInvalid";
    public const string MeasurementInvalid = "EnclaveMeasurementInvalid";
    public const string MeasurementAllZero = "EnclaveMeasurementAllZero";
    public const string MeasurementMissing = "EnclaveMeasurementMissing";
    public const string ImageSha384Mismatch = "EnclaveImageSha384Mismatch";
    public const string PrincipalInvalid = "KeyPolicyPrincipalInvalid";
    public const string Lockout = "KeyPolicyLockout";
    public const string KeyNotFound = "KmsKeyNotFound";
    public const string AccessDenied = "KmsAccessDenied";
    public const string KmsRequestFailed = "KmsRequestFailed";
    public const string KmsUnreachable = "KmsUnreachable";
}
