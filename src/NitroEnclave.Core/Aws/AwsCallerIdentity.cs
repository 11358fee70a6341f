using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.SecurityToken.Model;

namespace NitroEnclave.Aws;

/// <summary>Who the credentials of a set of <see cref="AwsConnectionSettings"/> are, as STS GetCallerIdentity says.</summary>
public sealed record AwsCallerIdentity(string Arn, string Account, string UserId)
{
    public const string LookupFailed = "AwsCallerIdentityUnavailable";

    /// <summary>
    /// Asks STS GetCallerIdentity with the settings' credentials, region and endpoint (an endpoint URL is asked for STS
    /// too). Any failure is <see cref="LookupFailed"/> naming what went wrong; the caller is never guessed.
    /// </summary>
    public static async Task<AwsCallerIdentity> GetAsync(AwsConnectionSettings settings, Action<string>? trace = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using var client = AwsClientFactory.CreateStsClient(settings);
        if (trace is not null)
        {
            AwsRequestTrace.Attach(client, trace);
        }

        GetCallerIdentityResponse response;
        try
        {
            response = await client.GetCallerIdentityAsync(new GetCallerIdentityRequest(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var (kind, what) = exception switch
            {
                AmazonServiceException { StatusCode: System.Net.HttpStatusCode.Forbidden } service => (ErrorKind.PermissionDenied, $"STS refused the credentials ({service.ErrorCode}: {service.Message})"),
                AmazonServiceException service => (ErrorKind.InvalidOperation, $"STS answered {service.ErrorCode}: {service.Message}"),
                HttpRequestException or SocketException or IOException or TimeoutException or OperationCanceledException => (ErrorKind.ConnectionError, $"STS could not be reached ({exception.Message})"),
                AmazonClientException => (ErrorKind.InvalidOperation, $"the credentials could not be used ({exception.Message})"),
                _ => (ErrorKind.InvalidOperation, $"{exception.GetType().Name}: {exception.Message}"),
            };
            throw new NitroEnclaveException(LookupFailed, kind, $"STS GetCallerIdentity with {settings} failed: {what}.", exception);
        }

        if (string.IsNullOrEmpty(response.Arn) || string.IsNullOrEmpty(response.Account))
        {
            throw new NitroEnclaveException(LookupFailed, ErrorKind.InvalidData, $"STS GetCallerIdentity with {settings} answered without an ARN or account.");
        }

        return new AwsCallerIdentity(response.Arn, response.Account, response.UserId ?? string.Empty);
    }
}
