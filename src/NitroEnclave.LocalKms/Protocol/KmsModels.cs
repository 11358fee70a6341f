using System.Text.Json.Serialization;

namespace NitroEnclave.LocalKms.Protocol;

// The KMS JSON 1.1 shapes this endpoint speaks. Property names are the wire names (PascalCase); byte arrays are
// base64 strings; timestamps are epoch seconds. Only the members the implemented operations use are modelled.
#pragma warning disable CA1819 // DTOs: byte arrays are the wire shape

public sealed class RecipientInfo
{
    public byte[]? AttestationDocument { get; set; }

    public string? KeyEncryptionAlgorithm { get; set; }
}

public sealed class Tag
{
    public string? TagKey { get; set; }

    public string? TagValue { get; set; }
}

public sealed class CreateKeyRequest
{
    public string? Policy { get; set; }

    public string? Description { get; set; }

    public string? KeyUsage { get; set; }

    public string? KeySpec { get; set; }

    public string? CustomerMasterKeySpec { get; set; }

    public string? Origin { get; set; }

    public bool? BypassPolicyLockoutSafetyCheck { get; set; }

    public List<Tag>? Tags { get; set; }

    public bool? MultiRegion { get; set; }
}

public sealed class KeyMetadata
{
    public string? AWSAccountId { get; set; }

    public string? KeyId { get; set; }

    public string? Arn { get; set; }

    public double? CreationDate { get; set; }

    public bool Enabled { get; set; }

    public string? Description { get; set; }

    public string? KeyUsage { get; set; }

    public string? KeyState { get; set; }

    public double? DeletionDate { get; set; }

    public int? PendingDeletionWindowInDays { get; set; }

    public string? Origin { get; set; }

    public string? KeyManager { get; set; }

    public string? CustomerMasterKeySpec { get; set; }

    public string? KeySpec { get; set; }

    public List<string>? EncryptionAlgorithms { get; set; }

    public List<string>? MacAlgorithms { get; set; }

    public bool MultiRegion { get; set; }
}

public sealed class KeyMetadataResponse
{
    public KeyMetadata? KeyMetadata { get; set; }
}

public sealed class KeyIdRequest
{
    public string? KeyId { get; set; }

    public List<string>? GrantTokens { get; set; }
}

public sealed class ListRequest
{
    public string? KeyId { get; set; }

    public int? Limit { get; set; }

    public string? Marker { get; set; }
}

public sealed class KeyListEntry
{
    public string? KeyId { get; set; }

    public string? KeyArn { get; set; }
}

public sealed class ListKeysResponse
{
    public List<KeyListEntry>? Keys { get; set; }

    public string? NextMarker { get; set; }

    public bool Truncated { get; set; }
}

public sealed class AliasRequest
{
    public string? AliasName { get; set; }

    public string? TargetKeyId { get; set; }
}

public sealed class AliasListEntry
{
    public string? AliasName { get; set; }

    public string? AliasArn { get; set; }

    public string? TargetKeyId { get; set; }

    public double? CreationDate { get; set; }

    public double? LastUpdatedDate { get; set; }
}

public sealed class ListAliasesResponse
{
    public List<AliasListEntry>? Aliases { get; set; }

    public string? NextMarker { get; set; }

    public bool Truncated { get; set; }
}

public sealed class KeyPolicyRequest
{
    public string? KeyId { get; set; }

    public string? PolicyName { get; set; }

    public string? Policy { get; set; }

    public bool? BypassPolicyLockoutSafetyCheck { get; set; }
}

public sealed class GetKeyPolicyResponse
{
    public string? Policy { get; set; }

    public string? PolicyName { get; set; }
}

public sealed class EncryptRequest
{
    public string? KeyId { get; set; }

    public byte[]? Plaintext { get; set; }

    public Dictionary<string, string>? EncryptionContext { get; set; }

    public List<string>? GrantTokens { get; set; }

    public string? EncryptionAlgorithm { get; set; }

    public bool? DryRun { get; set; }
}

public sealed class EncryptResponse
{
    public byte[]? CiphertextBlob { get; set; }

    public string? KeyId { get; set; }

    public string? EncryptionAlgorithm { get; set; }
}

public sealed class DecryptRequest
{
    public byte[]? CiphertextBlob { get; set; }

    public Dictionary<string, string>? EncryptionContext { get; set; }

    public List<string>? GrantTokens { get; set; }

    public string? KeyId { get; set; }

    public string? EncryptionAlgorithm { get; set; }

    public RecipientInfo? Recipient { get; set; }

    public bool? DryRun { get; set; }
}

public sealed class DecryptResponse
{
    public string? KeyId { get; set; }

    public byte[]? Plaintext { get; set; }

    public string? EncryptionAlgorithm { get; set; }

    public byte[]? CiphertextForRecipient { get; set; }
}

public sealed class ReEncryptRequest
{
    public byte[]? CiphertextBlob { get; set; }

    public Dictionary<string, string>? SourceEncryptionContext { get; set; }

    public string? SourceKeyId { get; set; }

    public string? DestinationKeyId { get; set; }

    public Dictionary<string, string>? DestinationEncryptionContext { get; set; }

    public string? SourceEncryptionAlgorithm { get; set; }

    public string? DestinationEncryptionAlgorithm { get; set; }

    public List<string>? GrantTokens { get; set; }

    public bool? DryRun { get; set; }
}

public sealed class ReEncryptResponse
{
    public byte[]? CiphertextBlob { get; set; }

    public string? SourceKeyId { get; set; }

    public string? KeyId { get; set; }

    public string? SourceEncryptionAlgorithm { get; set; }

    public string? DestinationEncryptionAlgorithm { get; set; }
}

public sealed class GenerateDataKeyRequest
{
    public string? KeyId { get; set; }

    public Dictionary<string, string>? EncryptionContext { get; set; }

    public int? NumberOfBytes { get; set; }

    public string? KeySpec { get; set; }

    public List<string>? GrantTokens { get; set; }

    public RecipientInfo? Recipient { get; set; }

    public bool? DryRun { get; set; }
}

public sealed class GenerateDataKeyResponse
{
    public byte[]? CiphertextBlob { get; set; }

    public byte[]? Plaintext { get; set; }

    public string? KeyId { get; set; }

    public byte[]? CiphertextForRecipient { get; set; }
}

public sealed class GenerateRandomRequest
{
    public int? NumberOfBytes { get; set; }

    public string? CustomKeyStoreId { get; set; }

    public RecipientInfo? Recipient { get; set; }
}

public sealed class GenerateRandomResponse
{
    public byte[]? Plaintext { get; set; }

    public byte[]? CiphertextForRecipient { get; set; }
}

public sealed class ScheduleKeyDeletionRequest
{
    public string? KeyId { get; set; }

    public int? PendingWindowInDays { get; set; }
}

public sealed class ScheduleKeyDeletionResponse
{
    public string? KeyId { get; set; }

    public double? DeletionDate { get; set; }

    public string? KeyState { get; set; }

    public int? PendingWindowInDays { get; set; }
}

public sealed class EmptyResponse
{
}

public sealed class ErrorResponse
{
    [JsonPropertyName("__type")]
    public string? Type { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }
}

/// <summary>The line the server prints on stdout once it listens: how a launcher finds it.</summary>
public sealed class ReadyLine
{
    public string? Endpoint { get; set; }

    public int ProcessId { get; set; }

    public string? AccessKeyId { get; set; }

    public string? Region { get; set; }

    public string? AccountId { get; set; }

    public string? DataPath { get; set; }
}

/// <summary>What add-principal prints: the new principal's credentials.</summary>
public sealed class PrincipalCredentials
{
    public string? Arn { get; set; }

    public string? AccessKeyId { get; set; }

    public string? SecretAccessKey { get; set; }
}

/// <summary>What add-role prints: the role as the endpoint now knows it.</summary>
public sealed class RoleDefinition
{
    public string? Arn { get; set; }

    public List<string>? TrustedPrincipals { get; set; }

    public List<string>? WebIdentitySubjects { get; set; }

    public int MaxSessionDurationSeconds { get; set; }
}

#pragma warning restore CA1819

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(KeyMetadataResponse))]
[JsonSerializable(typeof(KeyIdRequest))]
[JsonSerializable(typeof(ListRequest))]
[JsonSerializable(typeof(ListKeysResponse))]
[JsonSerializable(typeof(AliasRequest))]
[JsonSerializable(typeof(ListAliasesResponse))]
[JsonSerializable(typeof(KeyPolicyRequest))]
[JsonSerializable(typeof(GetKeyPolicyResponse))]
[JsonSerializable(typeof(EncryptRequest))]
[JsonSerializable(typeof(EncryptResponse))]
[JsonSerializable(typeof(DecryptRequest))]
[JsonSerializable(typeof(DecryptResponse))]
[JsonSerializable(typeof(ReEncryptRequest))]
[JsonSerializable(typeof(ReEncryptResponse))]
[JsonSerializable(typeof(GenerateDataKeyRequest))]
[JsonSerializable(typeof(GenerateDataKeyResponse))]
[JsonSerializable(typeof(GenerateRandomRequest))]
[JsonSerializable(typeof(GenerateRandomResponse))]
[JsonSerializable(typeof(ScheduleKeyDeletionRequest))]
[JsonSerializable(typeof(ScheduleKeyDeletionResponse))]
[JsonSerializable(typeof(EmptyResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ReadyLine))]
[JsonSerializable(typeof(PrincipalCredentials))]
[JsonSerializable(typeof(RoleDefinition))]
internal sealed partial class KmsJsonContext : JsonSerializerContext
{
}
