using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Policy;

namespace NitroEnclave.LocalKms.Sts;

/// <summary>What an STS operation answers: the elements of its Result, in order (a value, or nested elements).</summary>
internal sealed record StsResult(string Operation, IReadOnlyList<StsElement> Elements);

internal sealed record StsElement(string Name, string? Value, IReadOnlyList<StsElement>? Children = null);

/// <summary>
/// The STS operations the endpoint answers: GetCallerIdentity, AssumeRole and AssumeRoleWithWebIdentity. Sessions are
/// issued for the roles of the principal directory (add-role), to the principals their trust names (AssumeRole) and to
/// the web identity subjects it names, with tokens from the endpoint's own provider (AssumeRoleWithWebIdentity).
/// Parameters the endpoint does not implement (session policies, tags, external id, MFA) are refused rather than
/// ignored, so a session never has other permissions than the caller meant.
/// </summary>
internal sealed partial class StsService(PrincipalDirectory directory, SessionCredentials sessions, WebIdentityTokens webIdentity)
{
    private const int MinDurationSeconds = 900;
    private const int DefaultDurationSeconds = 3600;

    private static readonly string[] AssumeRoleParameters = ["RoleArn", "RoleSessionName", "DurationSeconds"];
    private static readonly string[] WebIdentityParameters = ["RoleArn", "RoleSessionName", "DurationSeconds", "WebIdentityToken"];

    /// <summary>Whether an operation may come unsigned: AssumeRoleWithWebIdentity is authorized by its token alone.</summary>
    public static bool AllowsAnonymous(string? action) => action == "AssumeRoleWithWebIdentity";

    public StsResult Invoke(string action, IReadOnlyDictionary<string, string> parameters, Principal? caller) => action switch
    {
        "GetCallerIdentity" => GetCallerIdentity(Signed(caller)),
        "AssumeRole" => AssumeRole(parameters, Signed(caller)),
        "AssumeRoleWithWebIdentity" => AssumeRoleWithWebIdentity(parameters),
        _ => throw new StsException("InvalidAction", $"Could not find operation {action} for version 2011-06-15"),
    };

    /// <summary>The unique id IAM gives a user (AIDA...) or role (AROA...): stable per ARN.</summary>
    public static string UniqueId(string arn) =>
        (arn.Contains(":role/", StringComparison.Ordinal) ? "AROA" : "AIDA")
        + string.Concat(SHA256.HashData(Encoding.UTF8.GetBytes(arn)).Take(16).Select(b => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[b % 32]));

    private static Principal Signed(Principal? caller) =>
        caller ?? throw new StsException("MissingAuthenticationToken", "Request is missing Authentication Token", 403);

    private static StsResult GetCallerIdentity(Principal caller)
    {
        var userId = caller.RoleArn is { } role ? $"{UniqueId(role)}:{SessionName(caller.Arn)}" : UniqueId(caller.Arn);
        return new StsResult("GetCallerIdentity", [new("UserId", userId), new("Account", caller.AccountId), new("Arn", caller.Arn)]);
    }

    private StsResult AssumeRole(IReadOnlyDictionary<string, string> parameters, Principal caller)
    {
        RefuseUnsupported(parameters, AssumeRoleParameters);
        var (roleArn, sessionName, duration) = SessionRequest(parameters);
        var role = directory.FindRole(roleArn);
        if (role is null || !role.TrustedPrincipals.Any(t => PrincipalPattern.Parse(t, "the role's trust")?.Matches(caller.Arn, caller.AccountId, caller.RoleArn) == true))
        {
            // STS says the same whether the role does not exist or its trust does not name the caller.
            throw StsException.AccessDenied($"User: {caller.Arn} is not authorized to perform: sts:AssumeRole on resource: {roleArn}");
        }

        return new StsResult("AssumeRole", [.. Session(role, sessionName, duration)]);
    }

    private StsResult AssumeRoleWithWebIdentity(IReadOnlyDictionary<string, string> parameters)
    {
        RefuseUnsupported(parameters, WebIdentityParameters);
        var (roleArn, sessionName, duration) = SessionRequest(parameters);
        var token = parameters.GetValueOrDefault("WebIdentityToken");
        if (string.IsNullOrEmpty(token))
        {
            throw StsException.Constraint("webIdentityToken", null, "Member must not be null");
        }

        if (token.Length > 20000)
        {
            throw StsException.Constraint("webIdentityToken", null, "Member must have length less than or equal to 20000");
        }

        WebIdentityClaims claims;
        try
        {
            claims = webIdentity.Validate(token);
        }
        catch (WebIdentityTokenException ex)
        {
            throw ex.Expired ? new StsException("ExpiredTokenException", ex.Message) : new StsException("InvalidIdentityToken", ex.Message);
        }

        var role = directory.FindRole(roleArn);
        if (role is null || !role.WebIdentitySubjects.Any(s => s == "*" || s == claims.Subject))
        {
            throw StsException.AccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity");
        }

        return new StsResult("AssumeRoleWithWebIdentity",
        [
            new("SubjectFromWebIdentityToken", claims.Subject),
            new("Audience", claims.Audience),
            .. Session(role, sessionName, duration),
            new("Provider", claims.Issuer),
        ]);
    }

    private IEnumerable<StsElement> Session(Role role, string sessionName, int? durationSeconds)
    {
        var duration = durationSeconds ?? Math.Min(DefaultDurationSeconds, role.MaxSessionDurationSeconds);
        if (duration > role.MaxSessionDurationSeconds)
        {
            throw StsException.Validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
        }

        var assumedRoleArn = $"arn:aws:sts::{role.AccountId}:assumed-role/{role.Name}/{sessionName}";
        var issued = sessions.Issue(assumedRoleArn, role.Arn, role.AccountId, TimeSpan.FromSeconds(duration));
        yield return new StsElement("Credentials", null,
        [
            new("AccessKeyId", issued.AccessKeyId),
            new("SecretAccessKey", issued.SecretAccessKey),
            new("SessionToken", issued.SessionToken),
            new("Expiration", issued.Expiration!.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)),
        ]);
        yield return new StsElement("AssumedRoleUser", null, [new("AssumedRoleId", $"{UniqueId(role.Arn)}:{sessionName}"), new("Arn", assumedRoleArn)]);
    }

    private static (string RoleArn, string SessionName, int? DurationSeconds) SessionRequest(IReadOnlyDictionary<string, string> parameters)
    {
        var roleArn = parameters.GetValueOrDefault("RoleArn");
        if (string.IsNullOrEmpty(roleArn))
        {
            throw StsException.Constraint("roleArn", null, "Member must not be null");
        }

        if (roleArn.Length is < 20 or > 2048)
        {
            throw StsException.Constraint("roleArn", roleArn, "Member must have length greater than or equal to 20 and less than or equal to 2048");
        }

        if (!roleArn.StartsWith("arn:", StringComparison.Ordinal))
        {
            throw StsException.Validation($"{roleArn} is invalid");
        }

        var sessionName = parameters.GetValueOrDefault("RoleSessionName");
        if (string.IsNullOrEmpty(sessionName))
        {
            throw StsException.Constraint("roleSessionName", null, "Member must not be null");
        }

        if (!SessionNamePattern().IsMatch(sessionName))
        {
            throw StsException.Constraint("roleSessionName", sessionName, "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64");
        }

        int? duration = null;
        if (parameters.TryGetValue("DurationSeconds", out var durationText))
        {
            if (!int.TryParse(durationText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            {
                throw StsException.Validation($"Value '{durationText}' for DurationSeconds is not a valid integer.");
            }

            if (seconds is < MinDurationSeconds or > 43200)
            {
                throw StsException.Constraint("durationSeconds", durationText, $"Member must have value greater than or equal to {MinDurationSeconds} and less than or equal to 43200");
            }

            duration = seconds;
        }

        return (roleArn, sessionName, duration);
    }

    private static void RefuseUnsupported(IReadOnlyDictionary<string, string> parameters, string[] supported)
    {
        var unsupported = parameters.Keys.Where(k => k is not ("Action" or "Version") && !supported.Contains(k, StringComparer.Ordinal))
            .Select(k => k.Split('.')[0]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (unsupported.Count > 0)
        {
            throw StsException.Validation($"{string.Join(", ", unsupported)} {(unsupported.Count == 1 ? "is" : "are")} not supported by this endpoint.");
        }
    }

    private static string SessionName(string assumedRoleArn) => assumedRoleArn[(assumedRoleArn.LastIndexOf('/') + 1)..];

    [GeneratedRegex(@"^[A-Za-z0-9_+=,.@-]{2,64}$")]
    private static partial Regex SessionNamePattern();
}
