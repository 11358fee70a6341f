namespace NitroEnclave.LocalKms.Policy;

/// <summary>The facts a policy is evaluated against: who asks, for which action on which key, and the condition keys.</summary>
internal sealed class RequestContext
{
    public const string EncryptionContextPrefix = "kms:EncryptionContext:";
    public const string EncryptionContextKeys = "kms:EncryptionContextKeys";
    public const string RecipientAttestationPrefix = "kms:RecipientAttestation:";

    // Every key holds a set of values: one for single-valued keys, the context's keys for kms:EncryptionContextKeys.
    private readonly Dictionary<string, IReadOnlyList<string>> _keys = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="roleArn">For a role session, the role's ARN: policies naming the role apply to its sessions, and
    /// aws:PrincipalArn is the role's ARN, as IAM gives it for assumed roles.</param>
    public RequestContext(string principalArn, string principalAccount, string action, string resourceArn, string? roleArn = null)
    {
        PrincipalArn = principalArn;
        PrincipalAccount = principalAccount;
        PrincipalRoleArn = roleArn;
        Action = action;
        ResourceArn = resourceArn;
        _keys["aws:PrincipalArn"] = [roleArn ?? principalArn];
        _keys["kms:CallerAccount"] = [principalAccount];
    }

    /// <summary>The caller's ARN; for a role session arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.</summary>
    public string PrincipalArn { get; }

    /// <summary>The role of a role session (arn:aws:iam::ACCOUNT:role/PATH/ROLE); null for users and long-term keys.</summary>
    public string? PrincipalRoleArn { get; }

    public string PrincipalAccount { get; }

    /// <summary>For example kms:Decrypt.</summary>
    public string Action { get; }

    public string ResourceArn { get; }

    /// <summary>Adds kms:EncryptionContext:&lt;name&gt; per pair, and kms:EncryptionContextKeys when there is any pair.</summary>
    public RequestContext WithEncryptionContext(IReadOnlyDictionary<string, string>? context)
    {
        if (context is not { Count: > 0 })
        {
            return this;
        }

        foreach (var (name, value) in context)
        {
            _keys.TryAdd(EncryptionContextPrefix + name, [value]);
        }

        _keys[EncryptionContextKeys] = [.. context.Keys];
        return this;
    }

    /// <summary>Adds the PCRs of a verified attestation document (lowercase hex); PCR0 is also ImageSha384.</summary>
    public RequestContext WithAttestation(IReadOnlyDictionary<int, string>? pcrs)
    {
        foreach (var (index, value) in pcrs ?? new Dictionary<int, string>())
        {
            _keys[$"{RecipientAttestationPrefix}PCR{index}"] = [value];
            if (index == 0)
            {
                _keys[RecipientAttestationPrefix + "ImageSha384"] = [value];
            }
        }

        return this;
    }

    /// <summary>The values of a condition key; false when the request does not carry it.</summary>
    public bool TryGetValues(string key, out IReadOnlyList<string> values)
    {
        if (_keys.TryGetValue(key, out var found))
        {
            values = found;
            return true;
        }

        values = [];
        return false;
    }
}
