using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Operations;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Hosting;

/// <summary>
/// The HTTP side of the KMS JSON 1.1 protocol: one POST / per call, the operation in X-Amz-Target
/// (TrentService.&lt;Operation&gt;), SigV4-signed, errors as HTTP 400 with {"__type", "message"}.
/// </summary>
internal sealed partial class KmsEndpoint(KmsService service, SigV4Verifier verifier, int maxRequestBytes, ILogger logger)
{
    private const string TargetPrefix = "TrentService.";
    private const string ContentType = "application/x-amz-json-1.1";

    public async Task HandleAsync(HttpContext http)
    {
        var requestId = Guid.NewGuid().ToString("D");
        http.Response.Headers["x-amzn-RequestId"] = requestId;
        byte[] response;
        var status = StatusCodes.Status200OK;
        try
        {
            var body = await RequestBody.ReadAsync(http.Request, maxRequestBytes, TooLarge).ConfigureAwait(false);
            var caller = verifier.Verify(http.Request, body);
            var target = http.Request.Headers["X-Amz-Target"].ToString();
            if (!target.StartsWith(TargetPrefix, StringComparison.Ordinal))
            {
                throw new KmsException(KmsErrorTypes.UnknownOperation, string.Empty);
            }

            response = service.Invoke(target[TargetPrefix.Length..], body, caller);
        }
        catch (KmsException ex)
        {
            status = ex.StatusCode;
            response = JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse { Type = ex.ErrorType, Message = ex.Message }, KmsJsonContext.Default.ErrorResponse);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Only the type: messages of unexpected failures could carry request data.
            LogFailure(logger, requestId, ex.GetType().FullName);
            status = StatusCodes.Status500InternalServerError;
            response = JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse { Type = KmsErrorTypes.Internal, Message = "The request failed inside the local KMS." }, KmsJsonContext.Default.ErrorResponse);
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = ContentType;
        http.Response.ContentLength = response.Length;
        await http.Response.Body.WriteAsync(response, http.RequestAborted).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Request {RequestId} failed: {ExceptionType}")]
    private static partial void LogFailure(ILogger logger, string requestId, string? exceptionType);

    private KmsException TooLarge() =>
        new(KmsErrorTypes.RequestEntityTooLarge, $"The request body is larger than {maxRequestBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
}
