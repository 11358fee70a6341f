namespace NitroEnclave.LocalKms.Sts;

/// <summary>
/// A failure reported as STS reports it in its query protocol: an HTTP status and an ErrorResponse document whose
/// Error/Code (AccessDenied, InvalidIdentityToken, ...) the AWS SDKs turn into their exceptions.
/// </summary>
internal sealed class StsException(string code, string message, int statusCode = 400) : Exception(message)
{
    public string Code { get; } = code;

    public int StatusCode { get; } = statusCode;

    /// <summary>STS's Type: Sender for the caller's mistakes, Receiver for its own.</summary>
    public string Type => StatusCode >= 500 ? "Receiver" : "Sender";

    public static StsException AccessDenied(string message) => new("AccessDenied", message, 403);

    public static StsException Validation(string message) => new("ValidationError", message);

    /// <summary>The wording of STS's request validation, as KMS's: one constraint, named by the member's camelCase name.</summary>
    public static StsException Constraint(string member, string? value, string constraint) =>
        Validation($"1 validation error detected: Value {(value is null ? "null" : $"'{value}'")} at '{member}' failed to satisfy constraint: {constraint}");
}
