using System.Text.Json.Serialization;

namespace NitroEnclave.LocalKms.Keys;

#pragma warning disable CA1819 // persisted records: byte arrays are the stored shape

/// <summary>keys.json: every key (material wrapped under the master key), its policy, and the aliases.</summary>
internal sealed class StoredState
{
    public string? AccountId { get; set; }

    public List<StoredKey> Keys { get; set; } = [];

    public List<StoredAlias> Aliases { get; set; } = [];
}

internal sealed class StoredKey
{
    public required string KeyId { get; set; }

    public double CreationDate { get; set; }

    public string? Description { get; set; }

    public required string KeyUsage { get; set; }

    public required string KeySpec { get; set; }

    public required string KeyState { get; set; }

    public double? DeletionDate { get; set; }

    public int? PendingWindowInDays { get; set; }

    public required string Policy { get; set; }

    public required byte[] WrappedMaterial { get; set; }
}

internal sealed class StoredAlias
{
    public required string AliasName { get; set; }

    public required string TargetKeyId { get; set; }

    public double CreationDate { get; set; }

    public double LastUpdatedDate { get; set; }
}

/// <summary>principals.json: access keys and the principal each one authenticates (secret wrapped under the master key).</summary>
internal sealed class StoredPrincipals
{
    public List<StoredPrincipal> Principals { get; set; } = [];

    public List<StoredRole> Roles { get; set; } = [];
}

/// <summary>A role that AssumeRole and AssumeRoleWithWebIdentity can issue sessions of, and who may assume it.</summary>
internal sealed class StoredRole
{
    public required string Arn { get; set; }

    /// <summary>Principals (ARNs, account ids or account root ARNs) that may call AssumeRole for it.</summary>
    public List<string> TrustedPrincipals { get; set; } = [];

    /// <summary>The sub claims of web identity tokens that may assume it ("*": any token the endpoint issued).</summary>
    public List<string> WebIdentitySubjects { get; set; } = [];

    public int MaxSessionDurationSeconds { get; set; } = 3600;
}

internal sealed class StoredPrincipal
{
    public required string AccessKeyId { get; set; }

    public required string Arn { get; set; }

    public required byte[] WrappedSecret { get; set; }
}

#pragma warning restore CA1819

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StoredState))]
[JsonSerializable(typeof(StoredPrincipals))]
internal sealed partial class StoreJsonContext : JsonSerializerContext
{
}
