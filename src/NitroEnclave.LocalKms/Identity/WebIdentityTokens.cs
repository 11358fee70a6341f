using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Identity;

/// <summary>The claims of a web identity token that AssumeRoleWithWebIdentity uses.</summary>
internal sealed record WebIdentityClaims(string Issuer, string Subject, string Audience);

/// <summary>Why a web identity token was refused: STS answers ExpiredTokenException for an expired one, InvalidIdentityToken otherwise.</summary>
internal sealed class WebIdentityTokenException(bool expired, string message) : Exception(message)
{
    public bool Expired { get; } = expired;
}

/// <summary>
/// The web identity provider the local endpoint trusts: itself. Its tokens are JWTs (HS256) signed with a key derived
/// from the master key, so only whoever holds the data path can mint them (issue-web-identity-token), and the endpoint
/// checks them as STS checks an OIDC provider's: signature, issuer, audience, expiry.
/// </summary>
internal sealed class WebIdentityTokens(MasterKey masterKey, TimeProvider time)
{
    public const string Issuer = "https://localkms.nitroenclave.invalid";

    /// <summary>The audience EKS and most OIDC set-ups use for STS.</summary>
    public const string DefaultAudience = "sts.amazonaws.com";

    private const string Purpose = "localkms:web-identity-token-signing";
    private const long MaxUnixSeconds = 253402300799; // 9999-12-31T23:59:59Z, the last second DateTimeOffset holds

    public string Mint(string subject, TimeSpan lifetime, string audience = DefaultAudience)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new JwtHeader { Alg = "HS256", Typ = "JWT" }, WebIdentityJsonContext.Default.JwtHeader));
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(
            new JwtPayload { Iss = Issuer, Sub = subject, Aud = audience, Iat = now, Exp = now + (long)lifetime.TotalSeconds },
            WebIdentityJsonContext.Default.JwtPayload));
        var signingInput = $"{header}.{payload}";
        return $"{signingInput}.{Base64Url(HMACSHA256.HashData(SigningKey(), Encoding.ASCII.GetBytes(signingInput)))}";
    }

    public WebIdentityClaims Validate(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            throw Invalid("The web identity token is not a JWT (header.payload.signature).");
        }

        JwtHeader? header;
        JwtPayload? payload;
        byte[] signature;
        try
        {
            header = JsonSerializer.Deserialize(FromBase64Url(parts[0]), WebIdentityJsonContext.Default.JwtHeader);
            payload = JsonSerializer.Deserialize(FromBase64Url(parts[1]), WebIdentityJsonContext.Default.JwtPayload);
            signature = FromBase64Url(parts[2]);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw Invalid("The web identity token does not parse.");
        }

        if (header?.Alg != "HS256")
        {
            throw Invalid("The web identity token is not signed with the algorithm this endpoint's provider uses (HS256).");
        }

        var expected = HMACSHA256.HashData(SigningKey(), Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"));
        if (!CryptographicOperations.FixedTimeEquals(expected, signature))
        {
            throw Invalid("The web identity token's signature does not verify.");
        }

        if (payload is not { Iss: { } issuer, Sub: { Length: > 0 } subject, Aud: { } audience, Exp: { } expires })
        {
            throw Invalid("The web identity token lacks iss, sub, aud or exp.");
        }

        if (issuer != Issuer)
        {
            throw Invalid($"No OpenIDConnect provider found in your account for {issuer}");
        }

        if (audience != DefaultAudience)
        {
            throw Invalid("Incorrect token audience");
        }

        if (expires is < 0 or > MaxUnixSeconds)
        {
            throw Invalid("The web identity token's exp is not a date.");
        }

        var now = time.GetUtcNow();
        if (DateTimeOffset.FromUnixTimeSeconds(expires) <= now)
        {
            throw new WebIdentityTokenException(true, "Token expired: current date/time " + now.ToUnixTimeSeconds()
                + " must be before the expiration date/time " + expires);
        }

        return new WebIdentityClaims(issuer, subject, audience);
    }

    private static WebIdentityTokenException Invalid(string message) => new(false, message);

    private byte[] SigningKey() => masterKey.DeriveKey(Purpose);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var base64 = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '='));
    }
}

internal sealed class JwtHeader
{
    [JsonPropertyName("alg")]
    public string? Alg { get; set; }

    [JsonPropertyName("typ")]
    public string? Typ { get; set; }
}

internal sealed class JwtPayload
{
    [JsonPropertyName("iss")]
    public string? Iss { get; set; }

    [JsonPropertyName("sub")]
    public string? Sub { get; set; }

    [JsonPropertyName("aud")]
    public string? Aud { get; set; }

    [JsonPropertyName("iat")]
    public long? Iat { get; set; }

    [JsonPropertyName("exp")]
    public long? Exp { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JwtHeader))]
[JsonSerializable(typeof(JwtPayload))]
internal sealed partial class WebIdentityJsonContext : JsonSerializerContext
{
}
