using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Identity;

/// <summary>
/// Temporary credentials of role sessions, as STS issues them: an ASIA access key, a secret and a session token. The
/// token is self-contained, as AWS's are: the session (access key, secret, principal, role, expiry) sealed under the
/// master key with AES-GCM, so every server on the data path accepts it, also after a restart, and a token changed by
/// even one bit, or sent with another access key, opens to nothing.
/// </summary>
internal sealed class SessionCredentials(MasterKey masterKey, TimeProvider time)
{
    public const string AccessKeyPrefix = "ASIA";
    private const string Purpose = "localkms:session-token";

    public Principal Issue(string assumedRoleArn, string roleArn, string accountId, TimeSpan duration)
    {
        var accessKeyId = AccessKeyPrefix + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
        var secret = RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);
        // Whole seconds: the Expiration STS reports has no fraction.
        var expiration = DateTimeOffset.FromUnixTimeSeconds((time.GetUtcNow() + duration).ToUnixTimeSeconds());
        var session = new SealedSession
        {
            AccessKeyId = accessKeyId,
            SecretAccessKey = secret,
            Arn = assumedRoleArn,
            RoleArn = roleArn,
            AccountId = accountId,
            Expiration = expiration.ToUnixTimeSeconds(),
        };
        var token = Convert.ToBase64String(masterKey.Wrap(JsonSerializer.SerializeToUtf8Bytes(session, SessionJsonContext.Default.SealedSession), Purpose));
        return new Principal(accessKeyId, assumedRoleArn, accountId, secret, token) { RoleArn = roleArn, Expiration = expiration };
    }

    /// <summary>The session a token seals, when it opens and was issued with <paramref name="accessKeyId"/>; otherwise null.</summary>
    public Principal? Open(string accessKeyId, string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        SealedSession? session;
        try
        {
            session = JsonSerializer.Deserialize(masterKey.Unwrap(Convert.FromBase64String(token), Purpose), SessionJsonContext.Default.SealedSession);
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or JsonException)
        {
            return null;
        }

        if (session is null || session.AccessKeyId != accessKeyId)
        {
            return null;
        }

        return new Principal(session.AccessKeyId, session.Arn, session.AccountId, session.SecretAccessKey, token)
        {
            RoleArn = session.RoleArn,
            Expiration = DateTimeOffset.FromUnixTimeSeconds(session.Expiration),
        };
    }
}

internal sealed class SealedSession
{
    public required string AccessKeyId { get; set; }

    public required string SecretAccessKey { get; set; }

    public required string Arn { get; set; }

    public required string RoleArn { get; set; }

    public required string AccountId { get; set; }

    public long Expiration { get; set; }
}

[JsonSerializable(typeof(SealedSession))]
internal sealed partial class SessionJsonContext : JsonSerializerContext
{
}
