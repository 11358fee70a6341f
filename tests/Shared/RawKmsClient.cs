using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace NitroEnclave.Tests;

/// <summary>
/// Sends hand-made requests (bad JSON, huge bodies, unknown targets, stale dates) that the SDK would never produce,
/// signed with SigV4 written out from the specification.
/// </summary>
public sealed class RawKmsClient(Uri endpoint, string accessKeyId, string secretAccessKey, string region = "us-east-1") : IDisposable
{
    private readonly HttpClient _http = new();

    public async Task<(int Status, string? Type, string? Message, string Body)> SendAsync(string target, byte[] body, DateTimeOffset? signedAt = null, string service = "kms", bool sign = true, byte[]? sentBody = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint);
        request.Content = new ByteArrayContent(sentBody ?? body);
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-amz-json-1.1");
        request.Headers.Add("X-Amz-Target", target);
        var time = (signedAt ?? DateTimeOffset.UtcNow).UtcDateTime;
        var amzDate = time.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        request.Headers.Add("X-Amz-Date", amzDate);
        if (sign)
        {
            var host = endpoint.Authority;
            var payloadHash = Convert.ToHexStringLower(SHA256.HashData(body));
            var canonical = $"POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:{host}\nx-amz-date:{amzDate}\nx-amz-target:{target}\n\ncontent-type;host;x-amz-date;x-amz-target\n{payloadHash}";
            var scope = $"{amzDate[..8]}/{region}/{service}/aws4_request";
            var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
            var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), amzDate[..8]);
            key = Hmac(key, region);
            key = Hmac(key, service);
            key = Hmac(key, "aws4_request");
            var signature = Convert.ToHexStringLower(Hmac(key, stringToSign));
            request.Headers.TryAddWithoutValidation("Authorization",
                $"AWS4-HMAC-SHA256 Credential={accessKeyId}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}");
        }

        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        string? type = null, message = null;
        if (!response.IsSuccessStatusCode)
        {
            using var json = JsonDocument.Parse(text);
            type = json.RootElement.GetProperty("__type").GetString();
            message = json.RootElement.GetProperty("message").GetString();
        }

        return ((int)response.StatusCode, type, message, text);
    }

    public Task<(int Status, string? Type, string? Message, string Body)> SendAsync(string target, string json, DateTimeOffset? signedAt = null) =>
        SendAsync(target, Encoding.UTF8.GetBytes(json), signedAt);

    public void Dispose() => _http.Dispose();

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));
}
