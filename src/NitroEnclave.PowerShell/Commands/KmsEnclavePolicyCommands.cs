using System.Management.Automation;
using NitroEnclave.KmsPolicy;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Shows a KMS key's policy and the enclave attestation conditions it holds.</para>
/// <para type="description">Reads the key policy (GetKeyPolicy, policy name "default") and lists every kms:RecipientAttestation condition in it as an object: statement Sid, effect, principals, actions, condition key, operator and values.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "KmsEnclavePolicy")]
[OutputType(typeof(KmsEnclavePolicy))]
public sealed class GetKmsEnclavePolicyCommand : AwsCmdlet
{
    /// <summary>The key: key id, key ARN, alias name (alias/...) or alias ARN.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(KmsAliasCompleter))]
    public string KeyId { get; set; } = string.Empty;

    private Aws.AwsConnectionSettings? _aws;

    protected override void BeginProcessing() => _aws = ResolveAwsSettings();

    protected override void ProcessRecord()
    {
        try
        {
            using var client = new KmsKeyPolicyClient(_aws!, RequestTrace);
            WriteObject(client.GetAsync(KeyId, CancellationToken).GetAwaiter().GetResult());
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (NitroEnclaveException ex)
        {
            WriteItemError(ex, KeyId);
        }
        finally
        {
            WriteRequestTrace();
        }
    }
}

/// <summary>
/// <para type="synopsis">Restricts a KMS key to an attested Nitro enclave: adds or replaces the project's statements in the key policy.</para>
/// <para type="description">Reads the key policy, puts in place an Allow for the given principals (kms:Decrypt, plus kms:GenerateDataKey and kms:GenerateRandom with -IncludeGenerateDataKey) conditioned on the enclave's measurements, and one Deny of kms:Decrypt and kms:ReEncrypt* per measurement for every request whose attestation does not carry it, so the parent instance is denied too. Every other statement is kept byte-for-byte. Running it again with the same values changes nothing and says so. Measurements come from -Pcr0, -Pcr1, -Pcr2, -Pcr8, -ImageSha384 or from the pipeline (Get-EnclavePcr). -Remove takes the statements out again. With -ResultKey and -DataOwner the key becomes a result key for confidential results: the attested enclave may only GenerateDataKey (pinned to the same measurements), nobody may Encrypt, GenerateDataKey or ReEncrypt under it without that attestation, and only the data owners may Decrypt. A policy that would take away someone's ability to change the policy is refused unless -BypassPolicyLockoutSafetyCheck (which also bypasses KMS's own lockout check, as the KMS API's parameter of that name does). -Force writes without a confirmation prompt.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "KmsEnclavePolicy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = SetParameterSet)]
[OutputType(typeof(KmsEnclavePolicy))]
public sealed class SetKmsEnclavePolicyCommand : AwsCmdlet
{
    private const string SetParameterSet = "Set";
    private const string RemoveParameterSet = "Remove";
    private const string ResultKeyParameterSet = "ResultKey";

    /// <summary>The key: key id, key ARN, alias name (alias/...) or alias ARN.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(KmsAliasCompleter))]
    public string KeyId { get; set; } = string.Empty;

    /// <summary>
    /// IAM principals (role or user ARNs, or account ids) allowed to use the key from the attested enclave. Without it,
    /// the principals of the existing enclave statement are kept; when there is none, only the Deny statements are written.
    /// </summary>
    [Parameter(ParameterSetName = SetParameterSet)]
    [Parameter(ParameterSetName = ResultKeyParameterSet)]
    [ValidateNotNullOrEmpty]
    public string[] Principal { get; set; } = [];

    /// <summary>The enclave image measurement (96 hex digits).</summary>
    [Parameter(ParameterSetName = SetParameterSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = ResultKeyParameterSet, ValueFromPipelineByPropertyName = true)]
    public string? Pcr0 { get; set; }

    /// <summary>The kernel and boot ramfs measurement.</summary>
    [Parameter(ParameterSetName = SetParameterSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = ResultKeyParameterSet, ValueFromPipelineByPropertyName = true)]
    public string? Pcr1 { get; set; }

    /// <summary>The application measurement.</summary>
    [Parameter(ParameterSetName = SetParameterSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = ResultKeyParameterSet, ValueFromPipelineByPropertyName = true)]
    public string? Pcr2 { get; set; }

    /// <summary>The signing certificate measurement of a signed image.</summary>
    [Parameter(ParameterSetName = SetParameterSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = ResultKeyParameterSet, ValueFromPipelineByPropertyName = true)]
    public string? Pcr8 { get; set; }

    /// <summary>kms:RecipientAttestation:ImageSha384; the same value as PCR0, which it defaults to.</summary>
    [Parameter(ParameterSetName = SetParameterSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = ResultKeyParameterSet, ValueFromPipelineByPropertyName = true)]
    public string? ImageSha384 { get; set; }

    /// <summary>Also allow kms:GenerateDataKey and kms:GenerateRandom from the attested enclave.</summary>
    [Parameter(ParameterSetName = SetParameterSet)]
    public SwitchParameter IncludeGenerateDataKey { get; set; }

    /// <summary>
    /// The key is a result key (Invoke-EnclaveDetection -ResultKeyId): the attested enclave, with -Principal's
    /// credentials, may only GenerateDataKey; nobody may make a data key or ciphertext under it without that
    /// attestation; only the -DataOwner principals may Decrypt (and they administer the key).
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = ResultKeyParameterSet)]
    public SwitchParameter ResultKey { get; set; }

    /// <summary>With -ResultKey: the IAM user or role ARNs (or arn:aws:iam::ACCOUNT:root) who read the results.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ResultKeyParameterSet)]
    [ValidateNotNullOrEmpty]
    public string[] DataOwner { get; set; } = [];

    /// <summary>Take the project's statements out of the policy.</summary>
    [Parameter(Mandatory = true, ParameterSetName = RemoveParameterSet)]
    public SwitchParameter Remove { get; set; }

    /// <summary>Write the policy even when it would lock someone out of changing it; KMS's own lockout check is bypassed too.</summary>
    [Parameter]
    public SwitchParameter BypassPolicyLockoutSafetyCheck { get; set; }

    /// <summary>Write without asking for confirmation (-WhatIf still only shows the change).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Write the resulting policy object.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private Aws.AwsConnectionSettings? _aws;

    protected override void BeginProcessing() => _aws = ResolveAwsSettings();

    protected override void ProcessRecord()
    {
        try
        {
            var settings = Remove
                ? null
                : ResultKey
                    ? EnclavePolicySettings.ForResultKey(PinnedMeasurements.Create(Pcr0, Pcr1, Pcr2, Pcr8, ImageSha384), Principal, DataOwner)
                    : new EnclavePolicySettings(PinnedMeasurements.Create(Pcr0, Pcr1, Pcr2, Pcr8, ImageSha384), Principal, IncludeGenerateDataKey);
            using var client = new KmsKeyPolicyClient(_aws!, RequestTrace);
            var plan = client.PlanAsync(KeyId, settings, callerArn: null, CancellationToken).GetAwaiter().GetResult();
            WriteRequestTrace();
            var keyArn = plan.Before.KeyArn;
            if (!plan.Edit.IsChanged)
            {
                var message = Remove
                    ? $"The policy of key '{keyArn}' holds no enclave statements; nothing to change."
                    : $"The policy of key '{keyArn}' already holds these enclave statements; nothing to change.";
                WriteInformation(new HostInformationMessage { Message = message }, ["PSHOST", "NoChange"]);
                WritePassThru(plan.Before);
                return;
            }

            if (plan.Edit.Reformatted)
            {
                WriteVerbose($"The policy of key '{keyArn}' had no Statement array to add to, so it is rewritten with an indented layout.");
            }

            if (plan.LockedOut.Count > 0)
            {
                var who = string.Join(", ", plan.LockedOut);
                if (!BypassPolicyLockoutSafetyCheck)
                {
                    WriteError(ToErrorRecord(new NitroEnclaveException(KeyPolicyErrors.Lockout, ErrorKind.InvalidOperation,
                        $"The new policy of key '{keyArn}' would take kms:PutKeyPolicy away from {who}, who could not change the policy afterwards. Nothing was written; use -BypassPolicyLockoutSafetyCheck to write it anyway."), keyArn));
                    return;
                }

                WriteWarning($"The new policy of key '{keyArn}' takes kms:PutKeyPolicy away from {who}; writing it because of -BypassPolicyLockoutSafetyCheck.");
            }

            if (!ShouldProcessUnlessForced(
                Force,
                $"Change the policy of key '{keyArn}' ({plan.Edit.Change}):\n{plan.Edit.Diff}",
                $"Change the policy of key '{keyArn}' ({plan.Edit.Change})?\n{plan.Edit.Diff}",
                "Set-KmsEnclavePolicy"))
            {
                return;
            }

            var written = client.PutAsync(plan, bypassLockoutCheck: BypassPolicyLockoutSafetyCheck, CancellationToken).GetAwaiter().GetResult();
            WriteVerbose($"{plan.Edit.Change} the enclave statements in the policy of key '{keyArn}'.");
            WritePassThru(written);
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (NitroEnclaveException ex)
        {
            WriteItemError(ex, KeyId);
        }
        finally
        {
            WriteRequestTrace();
        }
    }

    private void WritePassThru(KmsEnclavePolicy policy)
    {
        if (PassThru)
        {
            WriteObject(policy);
        }
    }
}
