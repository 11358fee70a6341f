namespace NitroEnclave.Protocol;

/// <summary>
/// The stable error codes of the enclave protocol (docs/protocol.md). Clients match on these; messages are for people
/// and never carry secrets.
/// </summary>
public static class ProtocolErrorCodes
{
    /// <summary>The request is not a valid protocol message (bad CBOR, missing or mistyped field, unknown operation).</summary>
    public const string BadRequest = "BadRequest";

    /// <summary>The request names a protocol version the server does not speak.</summary>
    public const string UnsupportedVersion = "UnsupportedVersion";

    /// <summary>A frame is larger than the receiver's limit.</summary>
    public const string PayloadTooLarge = "PayloadTooLarge";

    /// <summary>KMS refused the data key: the key policy does not admit this enclave (or these credentials).</summary>
    public const string KmsAccessDenied = "KmsAccessDenied";

    /// <summary>KMS could not be reached or did not answer in time.</summary>
    public const string KmsUnavailable = "KmsUnavailable";

    /// <summary>KMS answered with another error (bad ciphertext for the key, disabled key, ...).</summary>
    public const string KmsError = "KmsError";

    /// <summary>The encrypted file is malformed, tampered with, or does not match its key or context.</summary>
    public const string DecryptFailed = "DecryptFailed";

    /// <summary>The decrypted file is not an image the server can decode, or is too large.</summary>
    public const string UnsupportedImage = "UnsupportedImage";

    /// <summary>The detection model failed.</summary>
    public const string ModelError = "ModelError";

    /// <summary>The server is at its concurrency limit; retry later.</summary>
    public const string Busy = "Busy";

    /// <summary>The request did not complete within the server's time limit.</summary>
    public const string Timeout = "Timeout";

    /// <summary>The server cannot do this (no KMS configured, no security module).</summary>
    public const string Unavailable = "Unavailable";

    /// <summary>
    /// The input's encryption context pins a result key (nitroenclave:result-key) and the request asked for an open
    /// result, or for a confidential one under another key: the data owner decided, the enclave refuses.
    /// </summary>
    public const string ConfidentialResultRequired = "ConfidentialResultRequired";

    /// <summary>An unexpected failure inside the server; details are in its log, not in the reply.</summary>
    public const string Internal = "Internal";
}

/// <summary>A failure reported by the enclave server (or detected by the client) with its protocol error code.</summary>
public sealed class EnclaveProtocolException : NitroEnclaveException
{
    public EnclaveProtocolException(string code, string message, Exception? inner = null)
        : base("Enclave" + code, KindOf(code), message, inner)
    {
        Code = code;
    }

    /// <summary>The protocol error code (ProtocolErrorCodes).</summary>
    public string Code { get; }

    private static ErrorKind KindOf(string code) => code switch
    {
        ProtocolErrorCodes.BadRequest or ProtocolErrorCodes.UnsupportedVersion or ProtocolErrorCodes.PayloadTooLarge => ErrorKind.InvalidArgument,
        ProtocolErrorCodes.KmsAccessDenied or ProtocolErrorCodes.ConfidentialResultRequired => ErrorKind.PermissionDenied,
        ProtocolErrorCodes.KmsUnavailable or ProtocolErrorCodes.Busy or ProtocolErrorCodes.Unavailable => ErrorKind.ResourceUnavailable,
        ProtocolErrorCodes.DecryptFailed or ProtocolErrorCodes.UnsupportedImage => ErrorKind.InvalidData,
        ProtocolErrorCodes.Timeout => ErrorKind.OperationTimeout,
        _ => ErrorKind.InvalidOperation,
    };
}
