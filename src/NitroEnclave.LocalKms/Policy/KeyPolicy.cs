using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Policy;

/// <summary>What evaluating a policy for one request decided.</summary>
internal enum PolicyDecision
{
    /// <summary>No statement allows the request: denied by default.</summary>
    ImplicitDeny,
    Allow,
    ExplicitDeny,
}

/// <summary>
/// A key policy in the IAM policy language, restricted to the subset this endpoint implements exactly. Parsing
/// rejects everything else with MalformedPolicyDocumentException naming it, so a policy is never half-understood.
/// </summary>
internal sealed partial class KeyPolicy
{
    public const int MaxLength = 32768;

    private static readonly HashSet<string> TopLevelElements = new(StringComparer.Ordinal) { "Version", "Id", "Statement" };
    private static readonly HashSet<string> StatementElements = new(StringComparer.Ordinal)
    {
        "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition",
    };

    private KeyPolicy(IReadOnlyList<PolicyStatement> statements) => Statements = statements;

    public IReadOnlyList<PolicyStatement> Statements { get; }

    /// <summary>The policy KMS gives a key created without one: the account (here: every principal of it) may do everything.</summary>
    public static string DefaultPolicyText(string accountId) =>
        $$"""
        {
          "Version" : "2012-10-17",
          "Id" : "key-default-1",
          "Statement" : [ {
            "Sid" : "Enable IAM User Permissions",
            "Effect" : "Allow",
            "Principal" : {
              "AWS" : "arn:aws:iam::{{accountId}}:root"
            },
            "Action" : "kms:*",
            "Resource" : "*"
          } ]
        }
        """;

    public static KeyPolicy Parse(string text, string accountId)
    {
        if (text.Length > MaxLength)
        {
            throw KmsFault.Constraint("policy", null, $"Member must have length less than or equal to {MaxLength}");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            throw KmsFault.MalformedPolicy("The key policy is not valid JSON.");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw KmsFault.MalformedPolicy("The key policy must be a JSON object.");
            }

            foreach (var property in root.EnumerateObject())
            {
                if (!TopLevelElements.Contains(property.Name))
                {
                    throw KmsFault.MalformedPolicy($"The policy element '{property.Name}' is not supported by this endpoint.");
                }
            }

            var allowsVariables = true;
            if (root.TryGetProperty("Version", out var version))
            {
                var versionText = version.ValueKind == JsonValueKind.String ? version.GetString() : null;
                if (versionText is not ("2012-10-17" or "2008-10-17"))
                {
                    throw KmsFault.MalformedPolicy($"The policy Version '{version}' is not valid: use 2012-10-17.");
                }

                allowsVariables = versionText == "2012-10-17";
            }

            if (!root.TryGetProperty("Statement", out var statementElement))
            {
                throw KmsFault.MalformedPolicy("The key policy has no Statement.");
            }

            var statements = new List<PolicyStatement>();
            if (statementElement.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in statementElement.EnumerateArray())
                {
                    statements.Add(ParseStatement(item, accountId, allowsVariables));
                }
            }
            else
            {
                statements.Add(ParseStatement(statementElement, accountId, allowsVariables));
            }

            if (statements.Count == 0)
            {
                throw KmsFault.MalformedPolicy("The key policy has no statements.");
            }

            return new KeyPolicy(statements);
        }
    }

    /// <summary>Explicit deny wins over allow; without an applicable allow, the request is denied by default.</summary>
    public PolicyDecision Evaluate(RequestContext request)
    {
        var allowed = false;
        foreach (var statement in Statements)
        {
            if (!statement.Applies(request))
            {
                continue;
            }

            if (!statement.IsAllow)
            {
                return PolicyDecision.ExplicitDeny;
            }

            allowed = true;
        }

        return allowed ? PolicyDecision.Allow : PolicyDecision.ImplicitDeny;
    }

    private static PolicyStatement ParseStatement(JsonElement element, string accountId, bool allowsVariables)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw KmsFault.MalformedPolicy("Each policy statement must be a JSON object.");
        }

        foreach (var property in element.EnumerateObject())
        {
            if (!StatementElements.Contains(property.Name))
            {
                throw KmsFault.MalformedPolicy($"The policy element '{property.Name}' is not supported by this endpoint.");
            }
        }

        var sid = element.TryGetProperty("Sid", out var sidElement) ? RequireString(sidElement, "Sid") : null;
        var where = sid is null ? "a statement" : $"statement '{sid}'";
        var effect = element.TryGetProperty("Effect", out var effectElement) ? RequireString(effectElement, "Effect") : null;
        if (effect is not ("Allow" or "Deny"))
        {
            throw KmsFault.MalformedPolicy($"The Effect of {where} must be Allow or Deny.");
        }

        var principal = OneOf(element, "Principal", where);
        var principals = ParsePrincipals(principal.Value, principal.Name, where, accountId);
        var action = OneOf(element, "Action", where);
        var actions = ReadStrings(action.Value, action.Name, where);
        foreach (var name in actions)
        {
            if (name != "*" && !ActionPattern().IsMatch(name))
            {
                throw KmsFault.MalformedPolicy($"The action '{name}' in {where} is not valid: use service:Action, for example kms:Decrypt.");
            }
        }

        var resource = OneOf(element, "Resource", where);
        var resources = ReadStrings(resource.Value, resource.Name, where);
        foreach (var arn in resources)
        {
            if (arn != "*" && !arn.StartsWith("arn:", StringComparison.Ordinal))
            {
                throw KmsFault.MalformedPolicy($"The resource '{arn}' in {where} is not valid: use \"*\" or a key ARN.");
            }
        }

        var conditions = element.TryGetProperty("Condition", out var conditionElement)
            ? PolicyCondition.ParseBlock(conditionElement, where, allowsVariables)
            : [];
        return new PolicyStatement(sid, effect == "Allow", new(principals, principal.Name != "Principal"), new(actions, action.Name != "Action"),
            new(resources, resource.Name != "Resource"), conditions);
    }

    /// <summary>A statement names Principal or NotPrincipal (Action or NotAction, Resource or NotResource): exactly one.</summary>
    private static (string Name, JsonElement Value) OneOf(JsonElement statement, string name, string where)
    {
        var hasPositive = statement.TryGetProperty(name, out var positive);
        var hasNegative = statement.TryGetProperty("Not" + name, out var negative);
        return (hasPositive, hasNegative) switch
        {
            (true, false) => (name, positive),
            (false, true) => ("Not" + name, negative),
            (true, true) => throw KmsFault.MalformedPolicy($"{Capitalize(where)} has both {name} and Not{name}: use one."),
            _ => throw KmsFault.MalformedPolicy(name == "Principal"
                ? $"{Capitalize(where)} has no Principal or NotPrincipal: key policy statements must name one."
                : $"{Capitalize(where)} has no {name} or Not{name}."),
        };
    }

    private static List<PrincipalPattern> ParsePrincipals(JsonElement principal, string element, string where, string accountId)
    {
        if (principal.ValueKind == JsonValueKind.String)
        {
            if (principal.GetString() != "*")
            {
                throw KmsFault.MalformedPolicy($"The {element} of {where} must be \"*\" or {{\"AWS\": ...}}.");
            }

            return [PrincipalPattern.Everyone];
        }

        if (principal.ValueKind != JsonValueKind.Object)
        {
            throw KmsFault.MalformedPolicy($"The {element} of {where} must be \"*\" or {{\"AWS\": ...}}.");
        }

        var patterns = new List<PrincipalPattern>();
        foreach (var property in principal.EnumerateObject())
        {
            if (property.Name != "AWS")
            {
                throw KmsFault.MalformedPolicy($"The principal type '{property.Name}' in {where} is not supported by this endpoint; use AWS.");
            }

            foreach (var value in ReadStringOrArray(property.Value, element, where))
            {
                patterns.Add(PrincipalPattern.Parse(value, where) ?? throw KmsFault.MalformedPolicy(
                    $"The principal '{value}' in {where} is not valid: use \"*\", an account id, arn:aws:iam::{accountId}:root, or a user or role ARN."));
            }
        }

        if (patterns.Count == 0)
        {
            throw KmsFault.MalformedPolicy($"The {element} of {where} is empty.");
        }

        return patterns;
    }

    private static List<string> ReadStrings(JsonElement element, string name, string where)
    {
        var values = ReadStringOrArray(element, name, where);
        if (values.Count == 0)
        {
            throw KmsFault.MalformedPolicy($"The {name} of {where} is empty.");
        }

        return values;
    }

    internal static List<string> ReadStringOrArray(JsonElement element, string name, string where)
    {
        if (element.ValueKind == JsonValueKind.String)
        {
            return [element.GetString()!];
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            throw KmsFault.MalformedPolicy($"The {name} of {where} must be a string or an array of strings.");
        }

        return [.. element.EnumerateArray().Select(item => RequireString(item, name, where))];
    }

    private static string RequireString(JsonElement element, string name, string where = "the policy") =>
        element.ValueKind == JsonValueKind.String
            ? element.GetString()!
            : throw KmsFault.MalformedPolicy($"The {name} in {where} must be a string.");

    private static string Capitalize(string text) => char.ToUpper(text[0], CultureInfo.InvariantCulture) + text[1..];

    [GeneratedRegex(@"^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$")]
    private static partial Regex ActionPattern();
}

/// <summary>Who a statement is about: everyone, every principal of an account, or one principal ARN.</summary>
internal sealed partial class PrincipalPattern
{
    public static readonly PrincipalPattern Everyone = new(null, null);

    private PrincipalPattern(string? account, string? arn)
    {
        Account = account;
        Arn = arn;
    }

    /// <summary>Set when the pattern names an account (its root): any principal of that account.</summary>
    public string? Account { get; }

    /// <summary>Set when the pattern names one principal.</summary>
    public string? Arn { get; }

    public static PrincipalPattern? Parse(string value, string where)
    {
        if (value == "*")
        {
            return Everyone;
        }

        if (AccountId().IsMatch(value))
        {
            return new PrincipalPattern(value, null);
        }

        var root = RootArn().Match(value);
        if (root.Success)
        {
            return new PrincipalPattern(root.Groups[1].Value, null);
        }

        if (value.Contains('*', StringComparison.Ordinal) || value.Contains('?', StringComparison.Ordinal))
        {
            throw KmsFault.MalformedPolicy($"The principal '{value}' in {where} uses a wildcard: only \"*\" on its own is allowed.");
        }

        return PrincipalArn().IsMatch(value) ? new PrincipalPattern(null, value) : null;
    }

    /// <param name="roleArn">For a role session, its role: a pattern naming the role matches every session of it. Not
    /// for NotPrincipal, which exempts a session only when it names the session (or its account), as IAM documents.</param>
    public bool Matches(string principalArn, string principalAccount, string? roleArn = null) =>
        (Account is null && Arn is null) || Account == principalAccount || string.Equals(Arn, principalArn, StringComparison.Ordinal)
        || (roleArn is not null && string.Equals(Arn, roleArn, StringComparison.Ordinal));

    [GeneratedRegex(@"^\d{12}$")]
    private static partial Regex AccountId();

    [GeneratedRegex(@"^arn:aws:iam::(\d{12}):root$")]
    private static partial Regex RootArn();

    [GeneratedRegex(@"^arn:aws:(iam::\d{12}:(user|role)/.+|sts::\d{12}:assumed-role/.+)$")]
    private static partial Regex PrincipalArn();
}

/// <summary>The values of Principal, Action or Resource, or of their Not- forms, which match what the values do not.</summary>
internal sealed class StatementElement<T>(IReadOnlyList<T> values, bool negated)
{
    public IReadOnlyList<T> Values { get; } = values;

    public bool Negated { get; } = negated;

    public bool Matches(Func<T, bool> match) => Values.Any(match) != Negated;
}

internal sealed class PolicyStatement(
    string? sid,
    bool isAllow,
    StatementElement<PrincipalPattern> principals,
    StatementElement<string> actions,
    StatementElement<string> resources,
    IReadOnlyList<PolicyCondition> conditions)
{
    public string? Sid { get; } = sid;

    public bool IsAllow { get; } = isAllow;

    public bool Applies(RequestContext request) =>
        principals.Matches(p => p.Matches(request.PrincipalArn, request.PrincipalAccount, principals.Negated ? null : request.PrincipalRoleArn))
        && actions.Matches(a => Wildcard.Matches(a, request.Action, ignoreCase: true))
        && resources.Matches(r => r == "*" || Wildcard.Matches(r, request.ResourceArn, ignoreCase: false))
        && conditions.All(c => c.IsSatisfied(request));
}
