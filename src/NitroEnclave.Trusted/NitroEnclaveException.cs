namespace NitroEnclave;

/// <summary>What kind of failure an error is, so each front end can map it to its own categories.</summary>
public enum ErrorKind
{
    InvalidData,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceUnavailable,
    ConnectionError,
    SecurityError,
    InvalidOperation,
    OperationTimeout,
    NotImplemented,
}

/// <summary>
/// A failure with a stable, PascalCase identifier that scripts and tests can rely on.
/// Messages never carry secrets.
/// </summary>
public class NitroEnclaveException : Exception
{
    public NitroEnclaveException(string errorId, ErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
    }

    public string ErrorId { get; }

    public ErrorKind Kind { get; }
}
