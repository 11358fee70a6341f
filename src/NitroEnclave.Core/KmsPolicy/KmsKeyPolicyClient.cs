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
    private readonly KmsCallOptions _options;

    /// <param name="settings">How to reach KMS; its timeout bounds each call.</param>
    /// <param name="trace">Hears of each request (<see cref="AwsRequestTrace"/>).</param>
    public KmsKeyPolicyClient(AwsConnectionSettings settings, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _client = AwsClientFactory.CreateKmsClient(settings, out var credentials);
        _options = new KmsCallOptions { Timeout = settings.Timeout, Credentials = credentials.Used };
        if (trace is not null)
        {
            AwsRequestTrace.Attach(_client, trace);
        }
    }

    /// <summary>The policy of the key named by id, ARN, alias name or alias ARN.</summary>
    public async Task<KmsEnclavePolicy> GetAsync(string keyId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        // GetKeyPolicy takes no aliases, so resolve the key first.
        var metadata = (await _options.CallAsync(token => _client.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId }, token), "DescribeKey", keyId, cancellationToken).ConfigureAwait(false)).KeyMetadata;
        var policy = (await _options.CallAsync(token => _client.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = metadata.Arn, PolicyName = PolicyName }, token), "GetKeyPolicy", keyId, cancellationToken).ConfigureAwait(false)).Policy;

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
            await _options.CallAsync(token => _client.PutKeyPolicyAsync(new PutKeyPolicyRequest
            {
                KeyId = keyArn,
                PolicyName = PolicyName,
                Policy = update.Edit.PolicyText,
                BypassPolicyLockoutSafetyCheck = bypassLockoutCheck,
            }, token), "PutKeyPolicy", keyArn, cancellationToken).ConfigureAwait(false);
        }
        catch (NitroEnclaveException exception) when (exception.InnerException is MalformedPolicyDocumentException malformed)
        {
            throw new NitroEnclaveException(KeyPolicyErrors.PolicyRejected, ErrorKind.InvalidData, $"KMS refused the new policy of key '{keyArn}': {malformed.Message}", malformed);
        }

        return new KmsEnclavePolicy(update.Before.KeyId, keyArn, update.Before.AccountId, update.Edit.PolicyText);
    }

    public void Dispose() => _client.Dispose();
}
