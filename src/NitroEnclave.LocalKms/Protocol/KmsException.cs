namespace NitroEnclave.LocalKms.Protocol;

/// <summary>
/// A failure reported to the client as KMS reports it: HTTP status and a JSON body {"__type": ErrorType, "message": ...},
/// from which the AWS SDKs raise their typed exceptions.
/// </summary>
public sealed class KmsException(string errorType, string message, int statusCode = 400) : Exception(message)
{
    public string ErrorType { get; } = errorType;

    public int StatusCode { get; } = statusCode;
}

/// <summary>The error type names KMS (and its Coral front end) use on the wire.</summary>
public static class KmsErrorTypes
{
    public const string AccessDenied = "AccessDeniedException";
    public const string NotFound = "NotFoundException";
    public const string InvalidCiphertext = "InvalidCiphertextException";
    public const string Disabled = "DisabledException";
    public const string Validation = "ValidationException";
    public const string InvalidSignature = "InvalidSignatureException";
    public const string UnrecognizedClient = "UnrecognizedClientException";
    public const string MissingAuthenticationToken = "MissingAuthenticationTokenException";
    public const string IncompleteSignature = "IncompleteSignatureException";
    public const string MalformedPolicyDocument = "MalformedPolicyDocumentException";
    public const string InvalidState = "KMSInvalidStateException";
    public const string AlreadyExists = "AlreadyExistsException";
    public const string InvalidKeyUsage = "InvalidKeyUsageException";
    public const string IncorrectKey = "IncorrectKeyException";
    public const string InvalidAliasName = "InvalidAliasNameException";
    public const string InvalidMarker = "InvalidMarkerException";
    public const string UnknownOperation = "UnknownOperationException";
    public const string Serialization = "SerializationException";
    public const string RequestEntityTooLarge = "RequestEntityTooLargeException";
    public const string UnsupportedMediaType = "UnsupportedMediaTypeException";
    public const string Internal = "KMSInternalException";
}

internal static class KmsFault
{
    public static KmsException AccessDenied(string message) => new(KmsErrorTypes.AccessDenied, message);

    public static KmsException NotFound(string message) => new(KmsErrorTypes.NotFound, message);

    public static KmsException Validation(string message) => new(KmsErrorTypes.Validation, message);

    public static KmsException InvalidState(string message) => new(KmsErrorTypes.InvalidState, message);

    public static KmsException InvalidCiphertext() => new(KmsErrorTypes.InvalidCiphertext, string.Empty);

    public static KmsException MalformedPolicy(string message) => new(KmsErrorTypes.MalformedPolicyDocument, message);

    /// <summary>The wording of KMS's request validation: one constraint, named by the member's camelCase path.</summary>
    public static KmsException Constraint(string member, string? value, string constraint) =>
        Validation($"1 validation error detected: Value {(value is null ? "null" : $"'{value}'")} at '{member}' failed to satisfy constraint: {constraint}");

    public static KmsException Required(string member) => Constraint(member, null, "Member must not be null");
}
