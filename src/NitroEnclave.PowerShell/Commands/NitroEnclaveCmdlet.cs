using System.Collections.Concurrent;
using System.Management.Automation;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// Common plumbing: cancellation that reaches every blocking call, errors with stable ids, and -Debug lines for the
/// requests made.
/// </summary>
public abstract class NitroEnclaveCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancellation = new();
    private readonly ConcurrentQueue<string> _requests = new();

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline stops.</summary>
    protected CancellationToken CancellationToken => _cancellation.Token;

    /// <summary>
    /// Takes a line about a request from any thread (SDK and protocol calls run on the thread pool);
    /// <see cref="WriteRequestTrace"/> writes the lines as debug output on the pipeline thread.
    /// </summary>
    protected Action<string> RequestTrace => _requests.Enqueue;

    /// <summary>True when -Verbose or $VerbosePreference asks for verbose output (to skip work that only describes).</summary>
    protected bool VerboseRequested =>
        MyInvocation.BoundParameters.TryGetValue("Verbose", out var verbose)
            ? verbose is SwitchParameter { IsPresent: true } || verbose is true
            : LanguagePrimitives.TryConvertTo(SessionState.PSVariable.GetValue("VerbosePreference"), out ActionPreference preference)
              && preference is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);

    /// <summary>Writes the request lines collected so far; call it on the pipeline thread.</summary>
    protected void WriteRequestTrace()
    {
        while (!Stopping && _requests.TryDequeue(out var line))
        {
            WriteDebug(line);
        }
    }

    protected override void StopProcessing() => _cancellation.Cancel();

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what the cmdlet holds (PowerShell disposes cmdlets even when the pipeline is stopped).</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cancellation.Dispose();
        }
    }

    /// <summary>
    /// ShouldProcess as -Force means it everywhere: with -Force there is no confirmation prompt, but -WhatIf still
    /// only describes, and an explicit -Confirm still asks.
    /// </summary>
    protected bool ShouldProcessUnlessForced(bool force, string verboseDescription, string verboseWarning, string caption)
    {
        if (force && !MyInvocation.BoundParameters.ContainsKey("Confirm") && !WhatIfRequested())
        {
            WriteVerbose(verboseDescription);
            return true;
        }

        return ShouldProcess(verboseDescription, verboseWarning, caption);
    }

    /// <inheritdoc cref="ShouldProcessUnlessForced(bool, string, string, string)"/>
    protected bool ShouldProcessUnlessForced(bool force, string target, string action) =>
        ShouldProcessUnlessForced(force, $"Performing the operation \"{action}\" on target \"{target}\".", $"{action} {target}?", action);

    private bool WhatIfRequested() =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var whatIf)
            ? whatIf is SwitchParameter { IsPresent: true } || whatIf is true
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));

    protected static ErrorCategory CategoryOf(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        ErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        ErrorKind.SecurityError => ErrorCategory.SecurityError,
        ErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
        ErrorKind.NotImplemented => ErrorCategory.NotImplemented,
        _ => ErrorCategory.InvalidOperation,
    };

    internal static ErrorRecord ToErrorRecord(NitroEnclaveException exception, object? target) =>
        new(exception, exception.ErrorId, CategoryOf(exception.Kind), target);

    protected static ErrorRecord ToErrorRecord(Exception exception, string errorId, ErrorCategory category, object? target) =>
        new(exception, errorId, category, target);

    /// <summary>Reports a per-item failure and lets the pipeline go on with the next item.</summary>
    protected void WriteItemError(Exception exception, object? target)
    {
        WriteError(exception switch
        {
            NitroEnclaveException typed => ToErrorRecord(typed, target),
            FileNotFoundException or DirectoryNotFoundException => ToErrorRecord(exception, "PathNotFound", ErrorCategory.ObjectNotFound, target),
            UnauthorizedAccessException => ToErrorRecord(exception, "PathAccessDenied", ErrorCategory.PermissionDenied, target),
            IOException => ToErrorRecord(exception, "FileReadError", ErrorCategory.ReadError, target),
            _ => ToErrorRecord(exception, "UnexpectedError", ErrorCategory.NotSpecified, target),
        });
    }
}
