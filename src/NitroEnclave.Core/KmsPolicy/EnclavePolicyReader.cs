using System.Text.Json;

namespace NitroEnclave.KmsPolicy;

/// <summary>One attestation condition a key policy statement holds: "this statement applies when KEY OPERATOR VALUES".</summary>
public sealed class EnclavePolicyCondition
{
    internal EnclavePolicyCondition(string? sid, string effect, IReadOnlyList<string> principals, IReadOnlyList<string> actions, string conditionKey, string conditionOperator, IReadOnlyList<string> values)
    {
        Sid = sid;
        Effect = effect;
        Principals = principals;
        Actions = actions;
        ConditionKey = conditionKey;
        Operator = conditionOperator;
        Values = values;
    }

    public string? Sid { get; }

    public string Effect { get; }

    /// <summary>AWS principals as written ("*" for everyone); other principal types as Type:value.</summary>
    public IReadOnlyList<string> Principals { get; }

    public IReadOnlyList<string> Actions { get; }

    /// <summary>For example kms:RecipientAttestation:PCR0.</summary>
    public string ConditionKey { get; }

    /// <summary>For example StringEqualsIgnoreCase.</summary>
    public string Operator { get; }

    public IReadOnlyList<string> Values { get; }

    /// <summary>True when the statement is one Set-KmsEnclavePolicy writes.</summary>
    public bool IsProjectStatement => EnclavePolicyStatements.IsProjectSid(Sid);

    /// <summary>For example "Allow NitroEnclaveAllowAttestedDecrypt: kms:RecipientAttestation:PCR0 StringEqualsIgnoreCase 0f3a...", the values whole.</summary>
    public override string ToString() => $"{Effect} {Sid ?? "(no Sid)"}: {ConditionKey} {Operator} {string.Join(", ", Values)}";
}

/// <summary>Lists the enclave attestation conditions (kms:RecipientAttestation:*) of every statement of a key policy.</summary>
public static class EnclavePolicyReader
{
    public static IReadOnlyList<EnclavePolicyCondition> Conditions(string policyText)
    {
        ArgumentNullException.ThrowIfNull(policyText);
        using var document = EnclavePolicyEditor.Parse(policyText);
        var conditions = new List<EnclavePolicyCondition>();
        foreach (var statement in EnclavePolicyEditor.Statements(document.RootElement))
        {
            if (statement.ValueKind != JsonValueKind.Object
                || !statement.TryGetProperty("Condition", out var block)
                || block.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var sid = EnclavePolicyEditor.SidOf(statement);
            var effect = statement.TryGetProperty("Effect", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : string.Empty;
            var principals = Principals(statement);
            var actions = statement.TryGetProperty("Action", out var a) ? Strings(a) : [];
            foreach (var op in block.EnumerateObject().Where(o => o.Value.ValueKind == JsonValueKind.Object))
            {
                foreach (var key in op.Value.EnumerateObject())
                {
                    if (key.Name.StartsWith(PinnedMeasurements.ConditionKeyPrefix, StringComparison.OrdinalIgnoreCase))
                    {
                        conditions.Add(new EnclavePolicyCondition(sid, effect, principals, actions, key.Name, op.Name, Strings(key.Value)));
                    }
                }
            }
        }

        return conditions;
    }

    internal static List<string> Principals(JsonElement statement)
    {
        if (!statement.TryGetProperty("Principal", out var principal))
        {
            return [];
        }

        if (principal.ValueKind != JsonValueKind.Object)
        {
            return Strings(principal);
        }

        var list = new List<string>();
        foreach (var type in principal.EnumerateObject())
        {
            list.AddRange(Strings(type.Value).Select(v => type.Name == "AWS" ? v : $"{type.Name}:{v}"));
        }

        return list;
    }

    /// <summary>A string, or the strings of an array; other values as their JSON text.</summary>
    internal static List<string> Strings(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Array => [.. element.EnumerateArray().Select(Scalar)],
        _ => [Scalar(element)],
    };

    private static string Scalar(JsonElement element) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText();
}
