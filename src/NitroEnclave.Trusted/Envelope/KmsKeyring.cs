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

    /// <summary>Maps an AWS SDK failure to a stable error id; the message names the operation and key, never key material.</summary>
    public static NitroEnclaveException MapFailure(Exception exception, string operation, string keyId)
    {
        var (id, kind) = exception switch
        {
            InvalidCiphertextException or IncorrectKeyException => (EnvelopeErrors.KmsInvalidCiphertext, ErrorKind.InvalidData),
            NotFoundException => (EnvelopeErrors.KmsKeyNotFound, ErrorKind.NotFound),
            DisabledException or KMSInvalidStateException => (EnvelopeErrors.KmsKeyDisabled, ErrorKind.InvalidOperation),
            KeyUnavailableException or DependencyTimeoutException or KMSInternalException => (EnvelopeErrors.KmsUnavailable, ErrorKind.ResourceUnavailable),
            AmazonServiceException { ErrorCode: "AccessDeniedException" or "AccessDenied" or "UnrecognizedClientException" or "InvalidSignatureException" or "ExpiredTokenException" }
                => (EnvelopeErrors.KmsAccessDenied, ErrorKind.PermissionDenied),
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
}
