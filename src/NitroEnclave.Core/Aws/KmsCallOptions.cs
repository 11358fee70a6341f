using NitroEnclave.Envelope;

namespace NitroEnclave.Aws;

/// <summary>What every KMS call of a cmdlet shares: its deadline, its grant tokens, and the credentials named in errors.</summary>
public sealed class KmsCallOptions
{
    /// <summary>The whole call, retries included; null for none beyond the client's own per-attempt timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    public IReadOnlyList<string> GrantTokens { get; init; } = [];

    /// <summary>Named in the message of an authentication failure.</summary>
    public AwsCredentialsUsed? Credentials { get; init; }

    /// <summary>
    /// Runs one KMS call within the deadline and maps its failure to a stable id (<see cref="KmsKeyring.MapFailure"/>);
    /// the caller's own cancellation passes through as it is.
    /// </summary>
    public async Task<T> CallAsync<T>(Func<CancellationToken, Task<T>> call, string operation, string keyId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (Timeout is { } timeout)
        {
            deadline.CancelAfter(timeout);
        }

        try
        {
            return await call(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException exception) when (deadline.IsCancellationRequested)
        {
            throw new NitroEnclaveException(EnvelopeErrors.KmsUnavailable, ErrorKind.OperationTimeout,
                $"KMS {operation} with key '{keyId}' failed: no answer within {Timeout!.Value.TotalSeconds:0.#} s (-TimeoutSec).", exception);
        }
        catch (Exception exception)
        {
            throw KmsKeyring.MapFailure(exception, operation, keyId, Credentials);
        }
    }
}
