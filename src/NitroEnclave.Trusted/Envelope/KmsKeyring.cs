using System.Net.Http;
using System.Net.Sockets;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;

namespace NitroEnclave.Envelope;

/// <summary>
/// The conventions of the official SDKs' AWS KMS keyring that both sides share: the provider id of its data keys, and
/// how a KMS failure maps to a stable error id (the module's data key provider and the enclave's Recipient decryptor).
/// </summary>
public static class KmsKeyring
{
    public const string ProviderId = "aws-kms";

    /// <summary>
    /// Maps an AWS SDK failure to a stable error id; the message names the operation and key, never key material. An
    /// authentication failure (the request's credentials, not the key policy) gets its own id, and its message names
    /// <paramref name="credentials"/> when known: which source the keys came from and whether a session token went along.
    /// </summary>
    public static NitroEnclaveException MapFailure(Exception exception, string operation, string keyId, AwsCredentialsUsed? credentials = null)
    {
        if (AuthenticationFailure(exception, operation, keyId, credentials) is { } authentication)
        {
            return authentication;
        }

        var (id, kind) = exception switch
        {
            InvalidCiphertextException or IncorrectKeyException => (EnvelopeErrors.KmsInvalidCiphertext, ErrorKind.InvalidData),
            NotFoundException => (EnvelopeErrors.KmsKeyNotFound, ErrorKind.NotFound),
            DisabledException or KMSInvalidStateException => (EnvelopeErrors.KmsKeyDisabled, ErrorKind.InvalidOperation),
            KeyUnavailableException or DependencyTimeoutException or KMSInternalException => (EnvelopeErrors.KmsUnavailable, ErrorKind.ResourceUnavailable),
            AmazonServiceException { ErrorCode: "AccessDeniedException" or "AccessDenied" } => (EnvelopeErrors.KmsAccessDenied, ErrorKind.PermissionDenied),
            AmazonServiceException { StatusCode: System.Net.HttpStatusCode.Forbidden } => (EnvelopeErrors.KmsAccessDenied, ErrorKind.PermissionDenied),
            AmazonServiceException { StatusCode: >= System.Net.HttpStatusCode.InternalServerError } => (EnvelopeErrors.KmsUnavailable, ErrorKind.ResourceUnavailable),
            AmazonServiceException => (EnvelopeErrors.KmsRequestFailed, ErrorKind.InvalidOperation),
            HttpRequestException or SocketException or IOException or TimeoutException or OperationCanceledException or AmazonClientException
                => (EnvelopeErrors.KmsUnavailable, ErrorKind.ResourceUnavailable),
            _ => (EnvelopeErrors.KmsRequestFailed, ErrorKind.InvalidOperation),
        };
        var code = exception is AmazonServiceException service && !string.IsNullOrEmpty(service.ErrorCode) ? $" ({service.ErrorCode})" : string.Empty;
        var what = id switch
        {
            EnvelopeErrors.KmsAccessDenied => "access was denied",
            EnvelopeErrors.KmsInvalidCiphertext => "the ciphertext, its encryption context or the key does not match",
            EnvelopeErrors.KmsKeyNotFound => "the key was not found",
            EnvelopeErrors.KmsKeyDisabled => "the key is disabled or not usable now",
            EnvelopeErrors.KmsUnavailable => "KMS could not be reached or is unavailable",
            _ => "the request failed",
        };
        return new NitroEnclaveException(id, kind, $"KMS {operation} with key '{keyId}' failed: {what}{code}.", exception);
    }

    /// <summary>
    /// The authentication failures AWS answers before it looks at any policy. UnrecognizedClientException says "the
    /// security token included in the request is invalid" both for an unknown access key id and for a session token that
    /// does not go with it, so which one it is depends on whether a token was sent.
    /// </summary>
    private static NitroEnclaveException? AuthenticationFailure(Exception exception, string operation, string keyId, AwsCredentialsUsed? credentials)
    {
        if (exception is not AmazonServiceException { ErrorCode: { Length: > 0 } code })
        {
            return null;
        }

        var source = credentials is null ? "the credentials used" : $"the credentials from {credentials.Source}";
        var key = credentials?.AccessKeyId is { Length: >= 12 } accessKey ? $" (access key {accessKey[..4]}...{accessKey[^4..]})" : string.Empty;
        var (id, what) = code switch
        {
            "InvalidSignatureException" or "SignatureDoesNotMatch" => (EnvelopeErrors.AwsSignatureInvalid,
                $"AWS refused the signature made with {source}{key}: the secret access key does not match the access key id, or the clock is off by more than 5 minutes"),
            "ExpiredTokenException" or "ExpiredToken" => (EnvelopeErrors.AwsTokenInvalid,
                $"the session token of {source}{key} has expired: get new temporary credentials"),
            "UnrecognizedClientException" or "InvalidClientTokenId" when credentials?.HasSessionToken == true => (EnvelopeErrors.AwsTokenInvalid,
                $"AWS did not accept the session token of {source}{key}: it is expired, or not the token issued with this access key"),
            "UnrecognizedClientException" or "InvalidClientTokenId" => (EnvelopeErrors.AwsAccessKeyUnknown,
                $"AWS does not know the access key id of {source}{key}: it was deleted or deactivated, belongs to another partition, or is temporary and needs its session token"),
            _ => (null, null),
        };
        return id is null ? null : new NitroEnclaveException(id, ErrorKind.SecurityError, $"KMS {operation} with key '{keyId}' failed: {what} ({code}).", exception);
    }
}

/// <summary>Which credentials signed a request, for the messages of authentication failures: never the secret or the token.</summary>
/// <param name="Source">Where they came from, for example "profile 'ops'" or "-AccessKey/-SecretKey".</param>
/// <param name="AccessKeyId">The access key id, shortened in messages; null when not known.</param>
/// <param name="HasSessionToken">Whether a session token went with the request; null when not known.</param>
public sealed record AwsCredentialsUsed(string Source, string? AccessKeyId, bool? HasSessionToken);
