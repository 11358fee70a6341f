using System.Text.Json;
using System.Text.RegularExpressions;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Policy;

/// <summary>
/// One operator applied to one condition key, with IAM's semantics. Without a set operator: several policy values are
/// alternatives (a negated operator requires that none matches); a key absent from the request fails a positive
/// operator and satisfies a negated one; with ...IfExists an absent key satisfies either; Null tests presence only.
/// A request value satisfies the operator when it matches one of the policy values (negated: none of them).
/// ForAnyValue: at least one of the request's values satisfies it, so an absent or empty key fails.
/// ForAllValues: every request value satisfies it, so an absent or empty key holds.
/// A multi-valued key (kms:EncryptionContextKeys) without a set operator is read as ForAnyValue for a positive
/// operator and as "no value matches" for a negated one: the plain operator's semantics over each value.
/// </summary>
internal sealed partial class PolicyCondition
{
    private const string ForAnyValue = "ForAnyValue:";
    private const string ForAllValues = "ForAllValues:";

    private static readonly string[] StringOperators =
    [
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike", "Bool",
    ];

    private readonly SetOperator _set;
    private readonly string _operator;
    private readonly bool _ifExists;
    private readonly string _key;
    private readonly IReadOnlyList<string> _values;

    private PolicyCondition(SetOperator set, string op, bool ifExists, string key, IReadOnlyList<string> values)
    {
        _set = set;
        _operator = op;
        _ifExists = ifExists;
        _key = key;
        _values = values;
    }

    private enum SetOperator
    {
        None,
        AnyValue,
        AllValues,
    }

    public static List<PolicyCondition> ParseBlock(JsonElement block, string where, bool allowsVariables)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            throw KmsFault.MalformedPolicy($"The Condition of {where} must be a JSON object.");
        }

        var conditions = new List<PolicyCondition>();
        foreach (var operatorProperty in block.EnumerateObject())
        {
            var name = operatorProperty.Name;
            var (set, unqualified) = name.StartsWith(ForAnyValue, StringComparison.Ordinal) ? (SetOperator.AnyValue, name[ForAnyValue.Length..])
                : name.StartsWith(ForAllValues, StringComparison.Ordinal) ? (SetOperator.AllValues, name[ForAllValues.Length..])
                : (SetOperator.None, name);
            var ifExists = unqualified.EndsWith("IfExists", StringComparison.Ordinal);
            var baseName = ifExists ? unqualified[..^"IfExists".Length] : unqualified;
            var isNull = unqualified == "Null";

            // Null tests whether a key is there at all, so it takes no set operator and no IfExists.
            if (!(StringOperators.Contains(baseName) || (isNull && set == SetOperator.None)))
            {
                throw KmsFault.MalformedPolicy($"The condition operator '{name}' in {where} is not supported by this endpoint.");
            }

            if (operatorProperty.Value.ValueKind != JsonValueKind.Object)
            {
                throw KmsFault.MalformedPolicy($"The condition operator '{name}' in {where} must map condition keys to values.");
            }

            foreach (var keyProperty in operatorProperty.Value.EnumerateObject())
            {
                var key = keyProperty.Name;
                if (!IsSupportedKey(key))
                {
                    throw KmsFault.MalformedPolicy($"The condition key '{key}' in {where} is not supported by this endpoint.");
                }

                var values = ReadValues(keyProperty.Value, name, key, where);
                foreach (var value in values)
                {
                    if (value.Contains("${", StringComparison.Ordinal) && allowsVariables)
                    {
                        throw KmsFault.MalformedPolicy($"The policy variable in '{value}' ({where}) is not supported by this endpoint.");
                    }

                    if ((baseName == "Bool" || isNull) && value is not ("true" or "false"))
                    {
                        throw KmsFault.MalformedPolicy($"The {name} condition on '{key}' in {where} takes \"true\" or \"false\", not '{value}'.");
                    }
                }

                conditions.Add(new PolicyCondition(set, isNull ? "Null" : baseName, ifExists && !isNull, key, values));
            }
        }

        return conditions;
    }

    public bool IsSatisfied(RequestContext request)
    {
        var present = request.TryGetValues(_key, out var actual) && actual.Count > 0;
        if (_operator == "Null")
        {
            return _values.Any(v => (v == "true") != present);
        }

        if (!present && _ifExists)
        {
            return true;
        }

        return _set switch
        {
            SetOperator.AnyValue => actual.Any(Satisfies),
            SetOperator.AllValues => actual.All(Satisfies),
            _ when !present => IsNegated,
            _ => IsNegated ? actual.All(Satisfies) : actual.Any(Satisfies),
        };
    }

    /// <summary>One request value against the policy values: one of them matches (negated: none does).</summary>
    private bool Satisfies(string actual)
    {
        var anyMatch = _values.Any(expected => _operator switch
        {
            "StringEquals" or "StringNotEquals" => string.Equals(actual, expected, StringComparison.Ordinal),
            "StringEqualsIgnoreCase" or "StringNotEqualsIgnoreCase" or "Bool" => string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase),
            _ => Wildcard.Matches(expected, actual, ignoreCase: false),
        });
        return IsNegated ? !anyMatch : anyMatch;
    }

    private bool IsNegated => _operator.StartsWith("StringNot", StringComparison.Ordinal);

    /// <summary>The condition keys this endpoint puts in a request context (names compare case-insensitively, as in IAM).</summary>
    private static bool IsSupportedKey(string key) =>
        SupportedKey().IsMatch(key) || (key.StartsWith(RequestContext.EncryptionContextPrefix, StringComparison.OrdinalIgnoreCase) && key.Length > RequestContext.EncryptionContextPrefix.Length);

    private static List<string> ReadValues(JsonElement element, string op, string key, string where)
    {
        static string? Scalar(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.String => e.GetString(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Number => e.GetRawText(),
            _ => null,
        };

        var values = element.ValueKind == JsonValueKind.Array
            ? element.EnumerateArray().Select(Scalar).ToList()
            : [Scalar(element)];
        if (values.Count == 0 || values.Any(v => v is null))
        {
            throw KmsFault.MalformedPolicy($"The {op} condition on '{key}' in {where} must have a string value or an array of strings.");
        }

        return values!;
    }

    [GeneratedRegex(@"^(kms:RecipientAttestation:(ImageSha384|PCR([0-9]|[12][0-9]|3[01]))|kms:CallerAccount|kms:ViaService|kms:EncryptionContextKeys|aws:PrincipalArn)$", RegexOptions.IgnoreCase)]
    private static partial Regex SupportedKey();
}

/// <summary>IAM wildcards: * matches any run of characters, ? exactly one.</summary>
internal static class Wildcard
{
    public static bool Matches(string pattern, string text, bool ignoreCase)
    {
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = t;
            }
            else if (p < pattern.Length && (pattern[p] == '?' || string.Compare(pattern, p, text, t, 1, comparison) == 0))
            {
                p++;
                t++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
