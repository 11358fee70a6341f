namespace NitroEnclave.LocalKms.Policy;

/// <summary>The facts a policy is evaluated against: who asks, for which action on which key, and the condition keys.</summary>
internal sealed class RequestContext
{
    public const string EncryptionContextPrefix = "kms:EncryptionContext:";
    public const string RecipientAttestationPrefix = "kms:RecipientAttestation:";

    private readonly Dictionary<string, string> _keys = new(StringComparer.OrdinalIgnoreCase);

    public RequestContext(string principalArn, string principalAccount, string action, string resourceArn)
    {
        PrincipalArn = principalArn;
        PrincipalAccount = principalAccount;
        Action = action;
        ResourceArn = resourceArn;
        _keys["aws:PrincipalArn"] = principalArn;
        _keys["kms:CallerAccount"] = principalAccount;
    }

    public string PrincipalArn { get; }

    public string PrincipalAccount { get; }

    /// <summary>For example kms:Decrypt.</summary>
    public string Action { get; }

    public string ResourceArn { get; }

    public RequestContext WithEncryptionContext(IReadOnlyDictionary<string, string>? context)
    {
        foreach (var (name, value) in context ?? new Dictionary<string, string>())
        {
            _keys.TryAdd(EncryptionContextPrefix + name, value);
        }

        return this;
    }

    /// <summary>Adds the PCRs of a verified attestation document (lowercase hex); PCR0 is also ImageSha384.</summary>
    public RequestContext WithAttestation(IReadOnlyDictionary<int, string>? pcrs)
    {
        foreach (var (index, value) in pcrs ?? new Dictionary<int, string>())
        {
            _keys[$"{RecipientAttestationPrefix}PCR{index}"] = value;
            if (index == 0)
            {
                _keys[RecipientAttestationPrefix + "ImageSha384"] = value;
            }
        }

        return this;
    }

    public bool TryGetValue(string key, out string? value) => _keys.TryGetValue(key, out value);
}
