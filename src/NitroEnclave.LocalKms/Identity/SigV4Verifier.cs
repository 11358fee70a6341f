using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Identity;

/// <summary>What one service requires of a signature: its name in the credential scope, the region (null: any), the headers that must be signed.</summary>
internal sealed record SigV4Scope(string Service, string? Region, IReadOnlyList<(string Name, string Display)> RequiredSignedHeaders)
{
    // Coral's wording for an unsigned Host ("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    // applied to each header a replayed signature could otherwise be moved under.
    private static readonly (string Name, string Display) Host = ("host", "'Host' or ':authority'");
    private static readonly (string Name, string Display) Date = ("x-amz-date", "'X-Amz-Date'");

    /// <summary>KMS: scoped to this endpoint's region, and the operation (X-Amz-Target) signed.</summary>
    public static SigV4Scope Kms(string region) => new("kms", region, [Host, Date, ("x-amz-target", "'X-Amz-Target'")]);

    /// <summary>
    /// STS: the operation is in the signed body; any region, since STS is global and regional alike and SDKs sign it
    /// for the region they were configured with (the signature itself covers the region it names).
    /// </summary>
    public static readonly SigV4Scope Sts = new("sts", null, [Host, Date]);
}

/// <summary>
/// Verifies AWS Signature Version 4 (header form) the way KMS does: the credential must be a known access key scoped
/// to the service (kms in this endpoint's region, or sts), host, x-amz-date and for KMS x-amz-target (and
/// x-amz-security-token when sent) must be signed, a session token must be the one issued with the access key and not
/// expired, the signature must match the canonical request, and the request time must be within five minutes of the
/// server's clock. Failures are KmsExceptions with KMS's error names; the STS endpoint renames them to STS's.
/// </summary>
/// <param name="findPrincipal">The principal an access key id (with the session token sent, if any) belongs to, or null when it is unknown.</param>
internal sealed class SigV4Verifier(Func<string, string?, Principal?> findPrincipal, string region, TimeProvider time)
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public const string ExpiredToken = "ExpiredTokenException";
    private const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";
    private const string SecurityTokenHeader = "x-amz-security-token";
    private const string InvalidToken = "The security token included in the request is invalid.";
    private static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(5);

    /// <summary>A KMS request: scoped to kms in this endpoint's region.</summary>
    public Principal Verify(HttpRequest request, ReadOnlySpan<byte> body) => Verify(request, body, SigV4Scope.Kms(region));

    /// <summary>The service a request's credential scope names, or null when it has no SigV4 Authorization header to read it from.</summary>
    public static string? ScopedService(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
        {
            return null;
        }

        var scope = ParseParameters(authorization[(Algorithm.Length + 1)..]).GetValueOrDefault("Credential")?.Split('/');
        return scope is { Length: 5 } ? scope[3] : null;
    }

    public Principal Verify(HttpRequest request, ReadOnlySpan<byte> body, SigV4Scope rules)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(authorization))
        {
            throw new KmsException(KmsErrorTypes.MissingAuthenticationToken, "Missing Authentication Token");
        }

        if (!authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
        {
            throw new KmsException(KmsErrorTypes.IncompleteSignature, $"Authorization header must use {Algorithm}.");
        }

        var parts = ParseParameters(authorization[(Algorithm.Length + 1)..]);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders)
            || !parts.TryGetValue("Signature", out var signature))
        {
            throw new KmsException(KmsErrorTypes.IncompleteSignature,
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.");
        }

        var scope = credential.Split('/');
        if (scope.Length != 5)
        {
            throw new KmsException(KmsErrorTypes.IncompleteSignature, "Authorization header's Credential is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
        }

        var (accessKeyId, scopeDate, scopeRegion, service, terminator) = (scope[0], scope[1], scope[2], scope[3], scope[4]);
        var amzDate = request.Headers["X-Amz-Date"].ToString();
        if (string.IsNullOrEmpty(amzDate))
        {
            throw new KmsException(KmsErrorTypes.IncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
        }

        if (!DateTimeOffset.TryParseExact(amzDate, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var signedAt))
        {
            throw new KmsException(KmsErrorTypes.IncompleteSignature, $"X-Amz-Date '{amzDate}' is not in the form {DateFormat.Replace("'", string.Empty, StringComparison.Ordinal)}.");
        }

        var sentToken = request.Headers.TryGetValue(SecurityTokenHeader, out var tokenValues) ? tokenValues.ToString() : null;
        var principal = findPrincipal(accessKeyId, sentToken) ?? throw new KmsException(KmsErrorTypes.UnrecognizedClient, InvalidToken);
        CheckSessionToken(request, principal);

        if (service != rules.Service)
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature, $"Credential should be scoped to correct service: '{rules.Service}'. ");
        }

        if (rules.Region is { } requiredRegion && scopeRegion != requiredRegion)
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature, $"Credential should be scoped to a valid region, not '{scopeRegion}'. ");
        }

        if (terminator != "aws4_request" || scopeDate != amzDate[..8])
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature, $"Credential should be scoped to the date {amzDate[..8]}, ending in aws4_request.");
        }

        var headerNames = signedHeaders.Split(';');
        foreach (var (name, display) in rules.RequiredSignedHeaders)
        {
            if (!headerNames.Contains(name, StringComparer.Ordinal))
            {
                throw new KmsException(KmsErrorTypes.InvalidSignature, $"{display} must be a 'SignedHeader' in the AWS Authorization.");
            }
        }

        if (request.Headers.ContainsKey(SecurityTokenHeader) && !headerNames.Contains(SecurityTokenHeader, StringComparer.Ordinal))
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature, "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
        }

        var canonicalRequest = CanonicalRequest(request, headerNames, signedHeaders, body);
        var stringToSign = $"{Algorithm}\n{amzDate}\n{scopeDate}/{scopeRegion}/{service}/{terminator}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var key = SigningKey(principal.SecretAccessKey, scopeDate, scopeRegion, service);
        var expected = Encoding.ASCII.GetBytes(Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign))));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature)))
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
        }

        var now = time.GetUtcNow();
        if (signedAt < now - MaxSkew)
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature,
                $"Signature expired: {amzDate} is now earlier than {Format(now - MaxSkew)} ({Format(now)} - 5 min.)");
        }

        if (signedAt > now + MaxSkew)
        {
            throw new KmsException(KmsErrorTypes.InvalidSignature,
                $"Signature not yet current: {amzDate} is still later than {Format(now + MaxSkew)} ({Format(now)} + 5 min.)");
        }

        if (principal.Expiration is { } expiration && expiration <= now)
        {
            throw new KmsException(ExpiredToken, "The security token included in the request is expired");
        }

        return principal;
    }

    /// <summary>
    /// Long-term access keys carry no session token; temporary ones only work with the token issued with them. Either
    /// mismatch is the unknown-credential answer, so a caller learns nothing about which part was wrong.
    /// </summary>
    private static void CheckSessionToken(HttpRequest request, Principal principal)
    {
        var sent = request.Headers.TryGetValue(SecurityTokenHeader, out var values) ? values.ToString() : null;
        var matches = (sent, principal.SessionToken) switch
        {
            (null, null) => true,
            ({ } token, { } issued) => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(issued)),
            _ => false,
        };
        if (!matches)
        {
            throw new KmsException(KmsErrorTypes.UnrecognizedClient, InvalidToken);
        }
    }

    /// <summary>kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").</summary>
    public static byte[] SigningKey(string secret, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    private static string CanonicalRequest(HttpRequest request, string[] headerNames, string signedHeaders, ReadOnlySpan<byte> body)
    {
        var builder = new StringBuilder();
        builder.Append(request.Method).Append('\n');
        builder.Append(CanonicalPath(request.Path.Value)).Append('\n');
        builder.Append(CanonicalQuery(request.QueryString.Value)).Append('\n');
        foreach (var name in headerNames)
        {
            var values = name == "host" ? request.Host.Value ?? string.Empty : string.Join(',', request.Headers[name].Select(v => CollapseSpaces(v ?? string.Empty)));
            builder.Append(name).Append(':').Append(values).Append('\n');
        }

        builder.Append('\n').Append(signedHeaders).Append('\n');
        builder.Append(Hex(SHA256.HashData(body)));
        return builder.ToString();
    }

    private static string CanonicalPath(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "/";
        }

        // Non-S3 services encode each segment twice: once on the wire, once more in the canonical request.
        return string.Join('/', path.Split('/').Select(segment => Uri.EscapeDataString(Uri.EscapeDataString(Uri.UnescapeDataString(segment)))));
    }

    private static string CanonicalQuery(string? query)
    {
        if (string.IsNullOrEmpty(query) || query == "?")
        {
            return string.Empty;
        }

        var pairs = query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries).Select(pair =>
        {
            var separator = pair.IndexOf('=', StringComparison.Ordinal);
            var name = separator < 0 ? pair : pair[..separator];
            var value = separator < 0 ? string.Empty : pair[(separator + 1)..];
            return (Name: Uri.EscapeDataString(Uri.UnescapeDataString(name)), Value: Uri.EscapeDataString(Uri.UnescapeDataString(value)));
        });
        return string.Join('&', pairs.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal).Select(p => $"{p.Name}={p.Value}"));
    }

    private static string CollapseSpaces(string value) => string.Join(' ', value.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static Dictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var separator = part.IndexOf('=', StringComparison.Ordinal);
            if (separator > 0)
            {
                result[part[..separator]] = part[(separator + 1)..];
            }
        }

        return result;
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
