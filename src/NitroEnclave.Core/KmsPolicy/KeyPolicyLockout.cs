using System.Text.Json;
using System.Text.RegularExpressions;

namespace NitroEnclave.KmsPolicy;

/// <summary>
/// Lockout safety: would a new key policy take away someone's ability to change the policy (kms:PutKeyPolicy)?
/// Statements are evaluated as KMS does (an applicable Deny wins, otherwise an applicable Allow grants) for a request
/// without an attestation document. Conditions on other keys cannot be known here, so they are read cautiously: an
/// Allow that depends on one grants nothing, a Deny that depends on one applies.
/// The principals checked are the account root (which lets IAM policies grant access), the caller when known, and
/// every principal the old policy names; a principal, the caller included, counts as locked out when it could change the
/// policy before and cannot afterwards (a caller that never could is no lockout: KMS refuses its PutKeyPolicy anyway).
/// When nobody could change the new policy, every one of them is locked out. A role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) is named by a Principal that
/// names it, its role (arn:aws:iam::ACCOUNT:role/PATH/ROLE: role names are unique in an account, whatever the path) or
/// its account, as IAM matches resource policies; a NotPrincipal exempts it only when it names the session itself or
/// the account, as IAM documents for NotPrincipal.
/// </summary>
public static partial class KeyPolicyLockout
{
    public const string PolicyAction = "kms:PutKeyPolicy";

    private enum Outcome
    {
        False,
        True,
        Unknown,
    }

    /// <summary>The principals that lose kms:PutKeyPolicy when <paramref name="before"/> is replaced by <paramref name="after"/>.</summary>
    public static IReadOnlyList<string> LockedOut(string before, string after, string accountId, string? callerArn = null)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        using var old = EnclavePolicyEditor.Parse(before);
        using var next = EnclavePolicyEditor.Parse(after);
        var oldStatements = EnclavePolicyEditor.Statements(old.RootElement);
        var newStatements = EnclavePolicyEditor.Statements(next.RootElement);

        var candidates = new List<string> { RootArn(accountId) };
        if (!string.IsNullOrEmpty(callerArn))
        {
            candidates.Add(callerArn);
        }

        foreach (var statement in oldStatements.Where(s => s.ValueKind == JsonValueKind.Object))
        {
            foreach (var principal in EnclavePolicyReader.Principals(statement).Where(p => p.StartsWith("arn:", StringComparison.Ordinal) || AccountIdPattern().IsMatch(p)))
            {
                candidates.Add(AccountIdPattern().IsMatch(principal) ? RootArn(principal) : principal);
            }
        }

        candidates = [.. candidates.Distinct(StringComparer.Ordinal)];
        if (!candidates.Any(c => CanChangePolicy(newStatements, c)))
        {
            return candidates;
        }

        return [.. candidates.Where(c => CanChangePolicy(oldStatements, c) && !CanChangePolicy(newStatements, c))];
    }

    private static string RootArn(string accountId) => $"arn:aws:iam::{accountId}:root";

    private static bool CanChangePolicy(List<JsonElement> statements, string principalArn)
    {
        var allowed = false;
        foreach (var statement in statements.Where(s => s.ValueKind == JsonValueKind.Object))
        {
            if (!AppliesTo(statement, principalArn) || !CoversAction(statement))
            {
                continue;
            }

            var condition = Conditions(statement);
            var effect = statement.TryGetProperty("Effect", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            if (effect == "Deny" && condition != Outcome.False)
            {
                return false;
            }

            allowed |= effect == "Allow" && condition == Outcome.True;
        }

        return allowed;
    }

    private static bool AppliesTo(JsonElement statement, string principalArn)
    {
        if (statement.TryGetProperty("Principal", out var principal))
        {
            return Names(principal, principalArn, throughRole: true);
        }

        return statement.TryGetProperty("NotPrincipal", out var notPrincipal) && !Names(notPrincipal, principalArn, throughRole: false);
    }

    private static bool Names(JsonElement principal, string principalArn, bool throughRole)
    {
        if (principal.ValueKind == JsonValueKind.String)
        {
            return principal.GetString() == "*";
        }

        if (principal.ValueKind != JsonValueKind.Object || !principal.TryGetProperty("AWS", out var aws))
        {
            return false;
        }

        var account = AccountOf(principalArn);
        var session = throughRole ? AssumedRolePattern().Match(principalArn) : Match.Empty;
        return EnclavePolicyReader.Strings(aws).Any(value =>
            value == "*"
            || string.Equals(value, principalArn, StringComparison.Ordinal)
            || (account is not null && (value == account || value == RootArn(account)))
            || (session.Success && IsRoleOf(value, session.Groups[1].Value, session.Groups[2].Value)));
    }

    /// <summary>Whether <paramref name="value"/> is the ARN of role <paramref name="roleName"/> in <paramref name="account"/>, with any path.</summary>
    private static bool IsRoleOf(string value, string account, string roleName)
    {
        var prefix = $"arn:aws:iam::{account}:role/";
        return value.StartsWith(prefix, StringComparison.Ordinal)
            && string.Equals(value[(value.LastIndexOf('/') + 1)..], roleName, StringComparison.Ordinal);
    }

    private static bool CoversAction(JsonElement statement)
    {
        if (statement.TryGetProperty("Action", out var action))
        {
            return EnclavePolicyReader.Strings(action).Any(pattern => Wildcard(pattern).IsMatch(PolicyAction));
        }

        return statement.TryGetProperty("NotAction", out var notAction)
            && !EnclavePolicyReader.Strings(notAction).Any(pattern => Wildcard(pattern).IsMatch(PolicyAction));
    }

    /// <summary>The condition block for a request without attestation: keys of the attestation are absent, others unknown.</summary>
    private static Outcome Conditions(JsonElement statement)
    {
        if (!statement.TryGetProperty("Condition", out var block) || block.ValueKind != JsonValueKind.Object)
        {
            return Outcome.True;
        }

        var result = Outcome.True;
        foreach (var op in block.EnumerateObject().Where(o => o.Value.ValueKind == JsonValueKind.Object))
        {
            foreach (var key in op.Value.EnumerateObject())
            {
                var outcome = key.Name.StartsWith(PinnedMeasurements.ConditionKeyPrefix, StringComparison.OrdinalIgnoreCase)
                    ? AbsentKey(op.Name, EnclavePolicyReader.Strings(key.Value))
                    : Outcome.Unknown;
                if (outcome == Outcome.False)
                {
                    return Outcome.False;
                }

                if (outcome == Outcome.Unknown)
                {
                    result = Outcome.Unknown;
                }
            }
        }

        return result;
    }

    /// <summary>IAM's rule for a key missing from the request: negated operators, ...IfExists and ForAllValues hold; Null holds for "true".</summary>
    private static Outcome AbsentKey(string op, List<string> values)
    {
        if (op == "Null")
        {
            return values.Contains("true") ? Outcome.True : Outcome.False;
        }

        var holds = op.StartsWith("ForAllValues:", StringComparison.Ordinal)
            || (!op.StartsWith("ForAnyValue:", StringComparison.Ordinal) && (op.EndsWith("IfExists", StringComparison.Ordinal) || op.Contains("Not", StringComparison.Ordinal)));
        return holds ? Outcome.True : Outcome.False;
    }

    private static string? AccountOf(string principalArn)
    {
        var match = PrincipalAccountPattern().Match(principalArn);
        return match.Success ? match.Groups[1].Value : null;
    }

    private static Regex Wildcard(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    [GeneratedRegex(@"^\d{12}$")]
    private static partial Regex AccountIdPattern();

    [GeneratedRegex(@"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")]
    private static partial Regex PrincipalAccountPattern();

    [GeneratedRegex(@"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")]
    private static partial Regex AssumedRolePattern();
}
