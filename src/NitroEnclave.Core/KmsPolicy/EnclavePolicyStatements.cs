using System.Text.RegularExpressions;

namespace NitroEnclave.KmsPolicy;

/// <summary>What Set-KmsEnclavePolicy asks for: the measurements to pin, who may use the key from the enclave, and which operations.</summary>
public sealed partial class EnclavePolicySettings
{
    /// <param name="measurements">The enclave measurements to pin.</param>
    /// <param name="principals">
    /// IAM principal ARNs (or 12-digit account ids) allowed to use the key from an attested enclave. Empty keeps the
    /// principals of the project's existing allow statement, if there is one.
    /// </param>
    /// <param name="includeGenerateDataKey">Also allow kms:GenerateDataKey and kms:GenerateRandom under attestation.</param>
    public EnclavePolicySettings(PinnedMeasurements measurements, IEnumerable<string>? principals = null, bool includeGenerateDataKey = false)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        var list = new List<string>();
        foreach (var principal in principals ?? [])
        {
            var value = principal?.Trim() ?? string.Empty;
            if (!PrincipalPattern().IsMatch(value))
            {
                throw new NitroEnclaveException(KeyPolicyErrors.PrincipalInvalid, ErrorKind.InvalidArgument,
                    $"'{value}' is not an AWS principal: use a 12-digit account id, arn:aws:iam::<account>:root, or an IAM user or role ARN.");
            }

            if (!list.Contains(value, StringComparer.Ordinal))
            {
                list.Add(value);
            }
        }

        Measurements = measurements;
        Principals = list;
        IncludeGenerateDataKey = includeGenerateDataKey;
    }

    public PinnedMeasurements Measurements { get; }

    public IReadOnlyList<string> Principals { get; }

    public bool IncludeGenerateDataKey { get; }

    [GeneratedRegex(@"^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)|arn:aws[a-z-]*:sts::\d{12}:assumed-role/[\w+=,.@/-]+)$")]
    private static partial Regex PrincipalPattern();
}

/// <summary>
/// The statements the project owns in a key policy, recognised by their Sid:
/// one Allow for the given principals, conditioned on every pinned measurement (StringEqualsIgnoreCase), and one Deny
/// per pinned measurement for everyone whose request does not carry it (StringNotEqualsIgnoreCase). The denies are
/// separate statements because the keys inside one condition block are ANDed: a single Deny listing PCR0 and PCR8
/// would let through an enclave that matches PCR0 but not PCR8 whenever another statement (such as the account root's
/// kms:*) allows it. A request without an attestation document (the parent instance) has none of the keys, so
/// StringNotEqualsIgnoreCase holds and the Deny applies to it as well. Decrypt and ReEncrypt* are denied: ReEncrypt
/// would otherwise move the ciphertext under a key without these conditions. GenerateDataKey stays open to the parent,
/// which encrypts the data.
/// </summary>
public static class EnclavePolicyStatements
{
    public const string AllowSid = "NitroEnclaveAllowAttestedDecrypt";
    public const string DenySidPrefix = "NitroEnclaveDenyUnattestedDecrypt";
    public const string AllowOperator = "StringEqualsIgnoreCase";
    public const string DenyOperator = "StringNotEqualsIgnoreCase";

    private static readonly string[] MeasurementNames = ["ImageSha384", "PCR0", "PCR1", "PCR2", "PCR8"];

    public static IReadOnlyList<string> DeniedActions { get; } = ["kms:Decrypt", "kms:ReEncrypt*"];

    /// <summary>True for a Sid this project writes (and so may replace or remove).</summary>
    public static bool IsProjectSid(string? sid) =>
        sid == AllowSid
        || sid == DenySidPrefix
        || (sid is not null && sid.StartsWith(DenySidPrefix, StringComparison.Ordinal) && MeasurementNames.Contains(sid[DenySidPrefix.Length..], StringComparer.Ordinal));

    /// <summary>The Sid of the Deny statement for one condition key (kms:RecipientAttestation:PCR0 -> ...DecryptPCR0).</summary>
    public static string DenySid(string conditionKey) => DenySidPrefix + conditionKey[PinnedMeasurements.ConditionKeyPrefix.Length..];

    public static IReadOnlyList<string> AllowedActions(bool includeGenerateDataKey) =>
        includeGenerateDataKey ? ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateRandom"] : ["kms:Decrypt"];

    internal static List<PolicyStatementSpec> Build(EnclavePolicySettings settings, IReadOnlyList<string> principals)
    {
        var conditions = settings.Measurements.ConditionValues;
        var statements = new List<PolicyStatementSpec>();
        if (principals.Count > 0)
        {
            statements.Add(new PolicyStatementSpec(AllowSid, "Allow", principals, AllowedActions(settings.IncludeGenerateDataKey), AllowOperator, conditions));
        }

        foreach (var condition in conditions)
        {
            statements.Add(new PolicyStatementSpec(DenySid(condition.Key), "Deny", null, DeniedActions, DenyOperator, [condition]));
        }

        return statements;
    }
}

/// <summary>One statement the project writes. Principals null means everyone ("*").</summary>
internal sealed record PolicyStatementSpec(
    string Sid,
    string Effect,
    IReadOnlyList<string>? Principals,
    IReadOnlyList<string> Actions,
    string Operator,
    IReadOnlyList<KeyValuePair<string, string>> Conditions);
