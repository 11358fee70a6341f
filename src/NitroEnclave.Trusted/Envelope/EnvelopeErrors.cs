namespace NitroEnclave.Envelope;

/// <summary>The stable error ids of envelope encryption (AWS Encryption SDK messages, legacy Fernet files, KMS data keys).</summary>
public static class EnvelopeErrors
{
    public const string Malformed = "EnvelopeMalformed";
    public const string UnsupportedVersion = "EnvelopeUnsupportedVersion";
    public const string UnsupportedSuite = "EnvelopeUnsupportedSuite";
    public const string CommitmentMismatch = "EnvelopeCommitmentMismatch";
    public const string HeaderAuthFailed = "EnvelopeHeaderAuthFailed";
    public const string FrameAuthFailed = "EnvelopeFrameAuthFailed";
    public const string FrameOutOfOrder = "EnvelopeFrameOutOfOrder";
    public const string SignatureInvalid = "EnvelopeSignatureInvalid";
    public const string Truncated = "EnvelopeTruncated";
    public const string TrailingData = "EnvelopeTrailingData";
    public const string ContextMismatch = "EnvelopeContextMismatch";
    public const string ReservedContextKey = "EnvelopeReservedContextKey";
    public const string ContextTooLarge = "EnvelopeContextTooLarge";
    public const string LimitExceeded = "EnvelopeLimitExceeded";
    public const string MessageTooLarge = "EnvelopeMessageTooLarge";
    public const string InvalidOption = "EnvelopeInvalidOption";
    public const string DataKeyInvalid = "EnvelopeDataKeyInvalid";
    public const string NoDecryptableKey = "EnvelopeNoDecryptableKey";

    public const string FernetInvalidKey = "FernetInvalidKey";
    public const string FernetInvalidToken = "FernetInvalidToken";
    public const string FernetTokenExpired = "FernetTokenExpired";
    public const string LegacyMalformed = "LegacyFileMalformed";

    public const string KmsAccessDenied = "KmsAccessDenied";
    public const string KmsInvalidCiphertext = "KmsInvalidCiphertext";
    public const string KmsKeyNotFound = "KmsKeyNotFound";
    public const string KmsKeyDisabled = "KmsKeyDisabled";
    public const string KmsUnavailable = "KmsUnavailable";
    public const string KmsRequestFailed = "KmsRequestFailed";
    public const string KmsInvalidResponse = "KmsInvalidResponse";

    /// <summary>AWS refused the request's signature: the secret access key does not belong to the access key id.</summary>
    public const string AwsSignatureInvalid = "AwsSignatureInvalid";

    /// <summary>AWS does not know the access key id (deleted, deactivated, another partition, a typo).</summary>
    public const string AwsAccessKeyUnknown = "AwsAccessKeyUnknown";

    /// <summary>The session token of temporary credentials is expired or not the one issued with the access key.</summary>
    public const string AwsTokenInvalid = "AwsTokenInvalid";

    internal static NitroEnclaveException Invalid(string id, string message) => new(id, ErrorKind.InvalidData, message);

    internal static NitroEnclaveException Security(string id, string message) => new(id, ErrorKind.SecurityError, message);

    internal static NitroEnclaveException Argument(string id, string message) => new(id, ErrorKind.InvalidArgument, message);
}
