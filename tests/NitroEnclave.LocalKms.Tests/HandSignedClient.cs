using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>A KMS answer as it came over the wire; Type and Message are null when the body is not a KMS error.</summary>
public sealed record KmsAnswer(int Status, string? Type, string? Message, string Body);

/// <summary>
/// SigV4 written out from the specification with every choice left open (signed headers, region, extra headers, what
/// is sent after signing), for the requests an SDK never makes: replays, unsigned headers, foreign scopes.
/// </summary>
public sealed class HandSignedClient(Uri endpoint, string accessKeyId, string secretAccessKey) : IDisposable
{
    public static readonly string[] StandardSignedHeaders = ["content-type", "host", "x-amz-date", "x-amz-target"];

    private readonly HttpClient _http = new();

    /// <summary>The Authorization value for one POST / request; <paramref name="headers"/> holds lowercase names.</summary>
    public static string Authorization(string accessKeyId, string secretAccessKey, string host, IReadOnlyDictionary<string, string> headers,
        IReadOnlyList<string> signedHeaders, ReadOnlySpan<byte> body, string amzDate, string region, string service = "kms")
    {
        var canonical = new StringBuilder("POST\n/\n\n");
        foreach (var name in signedHeaders)
        {
            canonical.Append(name).Append(':').Append(name == "host" ? host : headers.GetValueOrDefault(name, string.Empty)).Append('\n');
        }

        canonical.Append('\n').Append(string.Join(';', signedHeaders)).Append('\n').Append(Convert.ToHexStringLower(SHA256.HashData(body)));
        var scope = $"{amzDate[..8]}/{region}/{service}/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + secretAccessKey);
        foreach (var part in new[] { amzDate[..8], region, service, "aws4_request" })
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        return $"AWS4-HMAC-SHA256 Credential={accessKeyId}/{scope}, SignedHeaders={string.Join(';', signedHeaders)}, Signature={signature}";
    }

    public static string AmzDate(DateTimeOffset time) => time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Signs a request for <paramref name="target"/> and sends it, with <paramref name="sentTarget"/> in X-Amz-Target
    /// instead when given (a signature replayed for another operation).
    /// </summary>
    public Task<KmsAnswer> SendAsync(string target, string body = "{}", string region = "us-east-1", IReadOnlyList<string>? signedHeaders = null,
        IReadOnlyDictionary<string, string>? extraHeaders = null, string? sentTarget = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var amzDate = AmzDate(DateTimeOffset.UtcNow);
        var headers = new Dictionary<string, string>(extraHeaders ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["content-type"] = "application/x-amz-json-1.1",
            ["x-amz-date"] = amzDate,
            ["x-amz-target"] = target,
        };
        var authorization = Authorization(accessKeyId, secretAccessKey, endpoint.Authority, headers, signedHeaders ?? StandardSignedHeaders, bytes, amzDate, region);
        headers["x-amz-target"] = sentTarget ?? target;
        headers["authorization"] = authorization;
        return SendRawAsync(bytes, headers);
    }

    /// <summary>POSTs <paramref name="body"/> with exactly these headers (content-type among them), nothing signed here.</summary>
    public async Task<KmsAnswer> SendRawAsync(byte[] body, IReadOnlyDictionary<string, string> headers, string path = "/")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, path));
        request.Content = new ByteArrayContent(body);
        foreach (var (name, value) in headers)
        {
            if (name == "content-type")
            {
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        string? type = null, message = null;
        if (!response.IsSuccessStatusCode)
        {
            try
            {
                using var json = JsonDocument.Parse(text);
                type = json.RootElement.GetProperty("__type").GetString();
                message = json.RootElement.GetProperty("message").GetString();
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // Not a KMS error body: Type stays null, which the caller's assertion reports.
            }
        }

        return new KmsAnswer((int)response.StatusCode, type, message, text);
    }

    public void Dispose() => _http.Dispose();
}
