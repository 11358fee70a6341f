using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Aws;
using NitroEnclave.Envelope;

namespace NitroEnclave.KmsPolicy;

/// <summary>A KMS key's policy as read: which key, and the policy text with the enclave conditions it holds.</summary>
public sealed class KmsEnclavePolicy
{
    public KmsEnclavePolicy(string keyId, string keyArn, string accountId, string policy)
    {
        KeyId = keyId;
        KeyArn = keyArn;
        AccountId = accountId;
        Policy = policy;
        Conditions = EnclavePolicyReader.Conditions(policy);
    }

    public string KeyId { get; }

    public string KeyArn { get; }

    public string AccountId { get; }

    /// <summary>KMS keys have exactly one policy, named "default".</summary>
    public string PolicyName { get; } = KmsKeyPolicyClient.PolicyName;

    public string Policy { get; }

    public IReadOnlyList<EnclavePolicyCondition> Conditions { get; }

    /// <summary>True when the policy holds the statements Set-KmsEnclavePolicy writes.</summary>
    public bool HasEnclaveStatements => Conditions.Any(c => c.IsProjectStatement);

    /// <summary>For example "arn:aws:kms:...:key/... (conditions on PCR0, PCR1, PCR2)".</summary>
    public override string ToString()
    {
        var keys = Conditions.Select(c => c.ConditionKey.Replace(PinnedMeasurements.ConditionKeyPrefix, string.Empty, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToArray();
        return keys.Length == 0 ? $"{KeyArn} (no attestation conditions)" : $"{KeyArn} (conditions on {string.Join(", ", keys)})";
    }
}

/// <summary>What Set-KmsEnclavePolicy did or would do to one key.</summary>
public sealed class KmsEnclavePolicyUpdate
{
    internal KmsEnclavePolicyUpdate(KmsEnclavePolicy before, KeyPolicyEdit edit, string? callerArn)
    {
        Before = before;
        Edit = edit;
        CallerArn = callerArn;
        LockedOut = edit.IsChanged ? KeyPolicyLockout.LockedOut(edit.OriginalText, edit.PolicyText, before.AccountId, callerArn) : [];
    }

    public KmsEnclavePolicy Before { get; }

    public KeyPolicyEdit Edit { get; }

    /// <summary>Who makes the change (as STS GetCallerIdentity names it), when known: the lockout check requires that it keeps kms:PutKeyPolicy.</summary>
    public string? CallerArn { get; }

    /// <summary>Principals that could change the key policy before and could not afterwards (see <see cref="KeyPolicyLockout"/>).</summary>
    public IReadOnlyList<string> LockedOut { get; }

    /// <summary>Whether the caller is among <see cref="LockedOut"/>.</summary>
    public bool LocksOutCaller => CallerArn is not null && LockedOut.Contains(CallerArn, StringComparer.Ordinal);

    /// <summary>The same edit, checked for the caller <paramref name="callerArn"/> too.</summary>
    public KmsEnclavePolicyUpdate ForCaller(string callerArn)
    {
        ArgumentException.ThrowIfNullOrEmpty(callerArn);
        return new KmsEnclavePolicyUpdate(Before, Edit, callerArn);
    }
}

/// <summary>Reads and writes key policies through KMS (GetKeyPolicy, PutKeyPolicy), with DescribeKey to resolve aliases.</summary>
public sealed class KmsKeyPolicyClient : IDisposable
{
    public const string PolicyName = "default";

    private readonly AmazonKeyManagementServiceClient _client;

    /// <param name="settings">How to reach KMS.</param>
    /// <param name="trace">Hears of each request (<see cref="AwsRequestTrace"/>).</param>
    public KmsKeyPolicyClient(AwsConnectionSettings settings, Action<string>? trace = null)
    {
        _client = AwsClientFactory.CreateKmsClient(settings);
        if (trace is not null)
        {
            AwsRequestTrace.Attach(_client, trace);
        }
    }

    /// <summary>The policy of the key named by id, ARN, alias name or alias ARN.</summary>
    public async Task<KmsEnclavePolicy> GetAsync(string keyId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        KeyMetadata metadata;
        string policy;
        try
        {
            // GetKeyPolicy takes no aliases, so resolve the key first.
            metadata = (await _client.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId }, cancellationToken).ConfigureAwait(false)).KeyMetadata;
            policy = (await _client.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = metadata.Arn, PolicyName = PolicyName }, cancellationToken).ConfigureAwait(false)).Policy;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw KmsKeyring.MapFailure(exception, "GetKeyPolicy", keyId);
        }

        return new KmsEnclavePolicy(metadata.KeyId, metadata.Arn, metadata.AWSAccountId, policy);
    }

    /// <summary>
    /// Reads the key's policy and works out the edit: <paramref name="settings"/> null removes the project's statements.
    /// Nothing is written.
    /// </summary>
    public async Task<KmsEnclavePolicyUpdate> PlanAsync(string keyId, EnclavePolicySettings? settings, string? callerArn = null, CancellationToken cancellationToken = default)
    {
        var before = await GetAsync(keyId, cancellationToken).ConfigureAwait(false);
        var edit = settings is null ? EnclavePolicyEditor.Remove(before.Policy) : EnclavePolicyEditor.Apply(before.Policy, settings);
        return new KmsEnclavePolicyUpdate(before, edit, callerArn);
    }

    /// <summary>
    /// Writes the planned policy. <paramref name="bypassLockoutCheck"/> also skips KMS's own lockout safety check,
    /// which would otherwise refuse the same policies <see cref="KeyPolicyLockout"/> reports.
    /// </summary>
    public async Task<KmsEnclavePolicy> PutAsync(KmsEnclavePolicyUpdate update, bool bypassLockoutCheck, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var keyArn = update.Before.KeyArn;
        try
        {
            await _client.PutKeyPolicyAsync(new PutKeyPolicyRequest
            {
                KeyId = keyArn,
                PolicyName = PolicyName,
                Policy = update.Edit.PolicyText,
                BypassPolicyLockoutSafetyCheck = bypassLockoutCheck,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (MalformedPolicyDocumentException exception)
        {
            throw new NitroEnclaveException(KeyPolicyErrors.PolicyRejected, ErrorKind.InvalidData, $"KMS refused the new policy of key '{keyArn}': {exception.Message}", exception);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw KmsKeyring.MapFailure(exception, "PutKeyPolicy", keyArn);
        }

        return new KmsEnclavePolicy(update.Before.KeyId, keyArn, update.Before.AccountId, update.Edit.PolicyText);
    }

    public void Dispose() => _client.Dispose();
}
