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

    /// <summary>
    /// The settings of a result key (Set-KmsEnclavePolicy -ResultKey): the attested enclave, calling with
    /// <paramref name="principals"/>' credentials, may only GenerateDataKey; the <paramref name="dataOwners"/> (IAM
    /// ARNs, as aws:PrincipalArn names them) may Decrypt and administer the key; everyone else may neither.
    /// </summary>
    public static EnclavePolicySettings ForResultKey(PinnedMeasurements measurements, IEnumerable<string>? principals, IEnumerable<string> dataOwners)
    {
        ArgumentNullException.ThrowIfNull(dataOwners);
        var owners = new EnclavePolicySettings(measurements, dataOwners).Principals;
        if (owners.Count == 0 || owners.Any(o => !o.StartsWith("arn:", StringComparison.Ordinal) || o.Contains(":sts::", StringComparison.Ordinal)))
        {
            throw new NitroEnclaveException(KeyPolicyErrors.PrincipalInvalid, ErrorKind.InvalidArgument,
                "A result key needs at least one data owner, each an IAM user or role ARN or arn:aws:iam::<account>:root (the form aws:PrincipalArn takes; for a role session, its role's ARN).");
        }

        return new EnclavePolicySettings(measurements, principals) { DataOwners = owners };
    }

    /// <summary>For a result key, who may decrypt its results; empty for an input key.</summary>
    public IReadOnlyList<string> DataOwners { get; private init; } = [];

    /// <summary>True for a result key's statements (<see cref="ForResultKey"/>).</summary>
    public bool IsResultKey => DataOwners.Count > 0;

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

    /// <summary>A result key: the attested enclave's GenerateDataKey.</summary>
    public const string ResultAllowSid = "NitroEnclaveResultAllowAttestedGenerateDataKey";

    /// <summary>A result key: one Deny per measurement of every way to make a data key or ciphertext under it without attestation.</summary>
    public const string ResultDenySidPrefix = "NitroEnclaveResultDenyUnattested";

    /// <summary>A result key: the data owners' Decrypt and administration.</summary>
    public const string ResultOwnerSid = "NitroEnclaveResultAllowDataOwners";

    /// <summary>A result key: Decrypt denied to every principal but the data owners, whatever IAM or grants allow.</summary>
    public const string ResultDenyDecryptSid = "NitroEnclaveResultDenyDecryptToOthers";

    private static readonly string[] MeasurementNames = ["ImageSha384", "PCR0", "PCR1", "PCR2", "PCR8"];

    public static IReadOnlyList<string> DeniedActions { get; } = ["kms:Decrypt", "kms:ReEncrypt*"];

    /// <summary>
    /// What only the attested enclave may do with a result key: a data key or ciphertext made any other way would let
    /// the parent forge a result the data owner takes for the enclave's.
    /// </summary>
    public static IReadOnlyList<string> ResultDeniedActions { get; } = ["kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"];

    public static IReadOnlyList<string> ResultOwnerActions { get; } = ["kms:Decrypt", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"];

    /// <summary>True for a Sid this project writes (and so may replace or remove).</summary>
    public static bool IsProjectSid(string? sid) =>
        sid == AllowSid
        || sid == DenySidPrefix
        || sid == ResultAllowSid
        || sid == ResultOwnerSid
        || sid == ResultDenyDecryptSid
        || (sid is not null && sid.StartsWith(DenySidPrefix, StringComparison.Ordinal) && MeasurementNames.Contains(sid[DenySidPrefix.Length..], StringComparer.Ordinal))
        || (sid is not null && sid.StartsWith(ResultDenySidPrefix, StringComparison.Ordinal) && MeasurementNames.Contains(sid[ResultDenySidPrefix.Length..], StringComparer.Ordinal));

    /// <summary>The Sid of the Deny statement for one condition key (kms:RecipientAttestation:PCR0 -> ...DecryptPCR0).</summary>
    public static string DenySid(string conditionKey) => DenySidPrefix + conditionKey[PinnedMeasurements.ConditionKeyPrefix.Length..];

    public static IReadOnlyList<string> AllowedActions(bool includeGenerateDataKey) =>
        includeGenerateDataKey ? ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateRandom"] : ["kms:Decrypt"];

    internal static List<PolicyStatementSpec> Build(EnclavePolicySettings settings, IReadOnlyList<string> principals)
    {
        var conditions = settings.Measurements.ConditionValues;
        var statements = new List<PolicyStatementSpec>();
        if (settings.IsResultKey)
        {
            if (principals.Count > 0)
            {
                statements.Add(new PolicyStatementSpec(ResultAllowSid, "Allow", principals, ["kms:GenerateDataKey"], AllowOperator, conditions));
            }

            foreach (var condition in conditions)
            {
                statements.Add(new PolicyStatementSpec(ResultDenySidPrefix + condition.Key[PinnedMeasurements.ConditionKeyPrefix.Length..], "Deny", null, ResultDeniedActions, DenyOperator, [condition]));
            }

            statements.Add(new PolicyStatementSpec(ResultOwnerSid, "Allow", settings.DataOwners, ResultOwnerActions, AllowOperator, []));
            statements.Add(new PolicyStatementSpec(ResultDenyDecryptSid, "Deny", null, ["kms:Decrypt"], "StringNotEquals",
                [.. settings.DataOwners.Select(owner => new KeyValuePair<string, string>("aws:PrincipalArn", owner))]));
            return statements;
        }

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

/// <summary>
/// One statement the project writes. Principals null means everyone ("*"). Conditions with the same key are one key
/// with several values; no conditions, no Condition block.
/// </summary>
internal sealed record PolicyStatementSpec(
    string Sid,
    string Effect,
    IReadOnlyList<string>? Principals,
    IReadOnlyList<string> Actions,
    string Operator,
    IReadOnlyList<KeyValuePair<string, string>> Conditions);
