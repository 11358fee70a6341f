using System.Globalization;
using System.Text;
using System.Xml;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using NitroEnclave.LocalKms.Hosting;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Sts;

/// <summary>
/// The HTTP side of the STS query protocol on the KMS port: POST / with a form body (Action=...&amp;Version=2011-06-15),
/// SigV4-signed for service sts (AssumeRoleWithWebIdentity may come unsigned), answers and errors as STS's XML.
/// </summary>
internal sealed partial class StsEndpoint(StsService service, SigV4Verifier verifier, int maxRequestBytes, ILogger logger)
{
    public const string Namespace = "https://sts.amazonaws.com/doc/2011-06-15/";
    private const string Version = "2011-06-15";
    private const string FormContentType = "application/x-www-form-urlencoded";

    /// <summary>
    /// Whether a request is for STS: signed for service sts, or unsigned with a form body (KMS bodies are JSON), so an
    /// unsigned AssumeRoleWithWebIdentity reaches STS and any other unsigned request gets its service's refusal.
    /// </summary>
    public static bool Claims(HttpRequest request) =>
        SigV4Verifier.ScopedService(request) is { } signedFor
            ? signedFor == SigV4Scope.Sts.Service
            : string.IsNullOrEmpty(request.Headers.Authorization.ToString())
              && request.ContentType?.StartsWith(FormContentType, StringComparison.OrdinalIgnoreCase) == true;

    public async Task HandleAsync(HttpContext http)
    {
        var requestId = Guid.NewGuid().ToString("D");
        http.Response.Headers["x-amzn-RequestId"] = requestId;
        byte[] response;
        var status = StatusCodes.Status200OK;
        try
        {
            var body = await RequestBody.ReadAsync(http.Request, maxRequestBytes,
                () => new StsException("RequestEntityTooLarge", $"The request body is larger than {maxRequestBytes} bytes.", StatusCodes.Status413PayloadTooLarge)).ConfigureAwait(false);
            var parameters = ParseForm(body);
            var action = parameters.GetValueOrDefault("Action");
            var anonymous = string.IsNullOrEmpty(http.Request.Headers.Authorization.ToString()) && StsService.AllowsAnonymous(action);
            var caller = anonymous ? null : Verify(http.Request, body);
            if (string.IsNullOrEmpty(action) || parameters.GetValueOrDefault("Version") != Version)
            {
                throw new StsException("InvalidAction", $"Could not find operation {action} for version {parameters.GetValueOrDefault("Version")}");
            }

            response = Document(requestId, service.Invoke(action, parameters, caller));
        }
        catch (StsException ex)
        {
            status = ex.StatusCode;
            response = ErrorDocument(requestId, ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Only the type: messages of unexpected failures could carry request data.
            LogFailure(logger, requestId, ex.GetType().FullName);
            status = StatusCodes.Status500InternalServerError;
            response = ErrorDocument(requestId, new StsException("InternalFailure", "The request failed inside the local STS.", status));
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = "text/xml";
        http.Response.ContentLength = response.Length;
        await http.Response.Body.WriteAsync(response, http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The verifier's refusals under the names STS gives them.</summary>
    private Principal Verify(HttpRequest request, byte[] body)
    {
        try
        {
            return verifier.Verify(request, body, SigV4Scope.Sts);
        }
        catch (KmsException ex)
        {
            throw ex.ErrorType switch
            {
                KmsErrorTypes.MissingAuthenticationToken => new StsException("MissingAuthenticationToken", "Request is missing Authentication Token", 403),
                KmsErrorTypes.IncompleteSignature => new StsException("IncompleteSignature", ex.Message),
                KmsErrorTypes.UnrecognizedClient => new StsException("InvalidClientTokenId", ex.Message, 403),
                SigV4Verifier.ExpiredToken => new StsException("ExpiredToken", ex.Message, 403),
                _ => new StsException("SignatureDoesNotMatch", ex.Message, 403),
            };
        }
    }

    private static Dictionary<string, string> ParseForm(byte[] body)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in Encoding.UTF8.GetString(body).Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var separator = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString((separator < 0 ? pair : pair[..separator]).Replace('+', ' '));
            var value = separator < 0 ? string.Empty : Uri.UnescapeDataString(pair[(separator + 1)..].Replace('+', ' '));
            if (!parameters.TryAdd(name, value))
            {
                throw StsException.Validation($"The parameter {name} is given more than once.");
            }
        }

        return parameters;
    }

    private static byte[] Document(string requestId, StsResult result) => Write(writer =>
    {
        writer.WriteStartElement(result.Operation + "Response", Namespace);
        writer.WriteStartElement(result.Operation + "Result");
        WriteElements(writer, result.Elements);
        writer.WriteEndElement();
        writer.WriteStartElement("ResponseMetadata");
        writer.WriteElementString("RequestId", requestId);
        writer.WriteEndElement();
        writer.WriteEndElement();
    });

    private static byte[] ErrorDocument(string requestId, StsException error) => Write(writer =>
    {
        writer.WriteStartElement("ErrorResponse", Namespace);
        writer.WriteStartElement("Error");
        writer.WriteElementString("Type", error.Type);
        writer.WriteElementString("Code", error.Code);
        writer.WriteElementString("Message", XmlSafe(error.Message));
        writer.WriteEndElement();
        writer.WriteElementString("RequestId", requestId);
        writer.WriteEndElement();
    });

    private static void WriteElements(XmlWriter writer, IEnumerable<StsElement> elements)
    {
        foreach (var element in elements)
        {
            if (element.Children is { } children)
            {
                writer.WriteStartElement(element.Name);
                WriteElements(writer, children);
                writer.WriteEndElement();
            }
            else
            {
                writer.WriteElementString(element.Name, XmlSafe(element.Value));
            }
        }
    }

    /// <summary>Characters XML cannot carry (a control character or lone surrogate echoed from a request) as \uXXXX, so every answer is well-formed.</summary>
    private static string? XmlSafe(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var safe = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (i + 1 < text.Length && XmlConvert.IsXmlSurrogatePair(text[i + 1], text[i]))
            {
                safe.Append(text, i++, 2);
            }
            else if (XmlConvert.IsXmlChar(text[i]))
            {
                safe.Append(text[i]);
            }
            else
            {
                safe.Append(CultureInfo.InvariantCulture, $"\\u{(int)text[i]:X4}");
            }
        }

        return safe.ToString();
    }

    private static byte[] Write(Action<XmlWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false) }))
        {
            write(writer);
        }

        return buffer.ToArray();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "STS request {RequestId} failed: {ExceptionType}")]
    private static partial void LogFailure(ILogger logger, string requestId, string? exceptionType);
}
