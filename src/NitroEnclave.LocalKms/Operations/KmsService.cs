using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using NitroEnclave.Kms;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Keys;
using NitroEnclave.LocalKms.Policy;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Operations;

/// <summary>
/// The KMS operations: decode the JSON request, resolve the key (id, key ARN, alias name or alias ARN where KMS
/// accepts each), authorize against the key policy, check the key's state and usage, act, encode the response.
/// Checks happen in KMS's order, so each failure carries the error type KMS would return.
/// </summary>
internal sealed partial class KmsService(KeyStore store, IRecipientVerifier recipientVerifier, string region, TimeProvider time)
{
    public const string SymmetricDefault = "SYMMETRIC_DEFAULT";
    public const string EncryptDecrypt = "ENCRYPT_DECRYPT";
    public const string Hmac256 = "HMAC_256";
    public const string GenerateVerifyMac = "GENERATE_VERIFY_MAC";
    public const string RsaesOaepSha256 = "RSAES_OAEP_SHA_256";
    private const int MaxPlaintext = 4096;
    private const int MaxCiphertext = 6144;
    private const int MaxDataKeyBytes = 1024;

    private static readonly KmsJsonContext Json = KmsJsonContext.Default;

    public string Region => region;

    public string AccountId => store.AccountId;

    public string KeyArn(string keyId) => $"arn:aws:kms:{region}:{store.AccountId}:key/{keyId}";

    public string AliasArn(string aliasName) => $"arn:aws:kms:{region}:{store.AccountId}:{aliasName}";

    /// <summary>Runs one operation named by X-Amz-Target (TrentService.&lt;operation&gt;) and returns the JSON response.</summary>
    public byte[] Invoke(string operation, byte[] body, Principal caller) => operation switch
    {
        "CreateKey" => Run(body, Json.CreateKeyRequest, r => CreateKey(r, caller), Json.KeyMetadataResponse),
        "DescribeKey" => Run(body, Json.KeyIdRequest, r => DescribeKey(r, caller), Json.KeyMetadataResponse),
        "ListKeys" => Run(body, Json.ListRequest, ListKeys, Json.ListKeysResponse),
        "CreateAlias" => Run(body, Json.AliasRequest, r => CreateAlias(r, caller), Json.EmptyResponse),
        "ListAliases" => Run(body, Json.ListRequest, ListAliases, Json.ListAliasesResponse),
        "DeleteAlias" => Run(body, Json.AliasRequest, r => DeleteAlias(r, caller), Json.EmptyResponse),
        "GetKeyPolicy" => Run(body, Json.KeyPolicyRequest, r => GetKeyPolicy(r, caller), Json.GetKeyPolicyResponse),
        "PutKeyPolicy" => Run(body, Json.KeyPolicyRequest, r => PutKeyPolicy(r, caller), Json.EmptyResponse),
        "Encrypt" => Run(body, Json.EncryptRequest, r => Encrypt(r, caller), Json.EncryptResponse),
        "Decrypt" => Run(body, Json.DecryptRequest, r => Decrypt(r, caller), Json.DecryptResponse),
        "ReEncrypt" => Run(body, Json.ReEncryptRequest, r => ReEncrypt(r, caller), Json.ReEncryptResponse),
        "GenerateDataKey" => Run(body, Json.GenerateDataKeyRequest, r => GenerateDataKey(r, caller, withPlaintext: true), Json.GenerateDataKeyResponse),
        "GenerateDataKeyWithoutPlaintext" => Run(body, Json.GenerateDataKeyRequest, r => GenerateDataKey(r, caller, withPlaintext: false), Json.GenerateDataKeyResponse),
        "GenerateRandom" => Run(body, Json.GenerateRandomRequest, GenerateRandom, Json.GenerateRandomResponse),
        "ScheduleKeyDeletion" => Run(body, Json.ScheduleKeyDeletionRequest, r => ScheduleKeyDeletion(r, caller), Json.ScheduleKeyDeletionResponse),
        "EnableKey" => Run(body, Json.KeyIdRequest, r => SetEnabled(r, caller, enabled: true), Json.EmptyResponse),
        "DisableKey" => Run(body, Json.KeyIdRequest, r => SetEnabled(r, caller, enabled: false), Json.EmptyResponse),
        _ => throw new KmsException(KmsErrorTypes.UnknownOperation, string.Empty),
    };

    private static byte[] Run<TRequest, TResponse>(byte[] body, JsonTypeInfo<TRequest> requestType, Func<TRequest, TResponse> operation, JsonTypeInfo<TResponse> responseType)
    {
        TRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body, requestType);
        }
        catch (JsonException ex)
        {
            throw new KmsException(KmsErrorTypes.Serialization, ex.Message.Split(" Path:", 2)[0]);
        }

        if (request is null)
        {
            throw new KmsException(KmsErrorTypes.Serialization, "The request body must be a JSON object.");
        }

        return JsonSerializer.SerializeToUtf8Bytes(operation(request), responseType);
    }

    private KeyMetadataResponse CreateKey(CreateKeyRequest request, Principal caller)
    {
        var keySpec = request.KeySpec ?? request.CustomerMasterKeySpec ?? SymmetricDefault;
        var keyUsage = request.KeyUsage ?? (keySpec == Hmac256 ? GenerateVerifyMac : EncryptDecrypt);
        if ((keySpec, keyUsage) is not ((SymmetricDefault, EncryptDecrypt) or (Hmac256, GenerateVerifyMac)))
        {
            throw KmsFault.Validation($"KeySpec {keySpec} with KeyUsage {keyUsage} is not supported by this endpoint: use SYMMETRIC_DEFAULT with ENCRYPT_DECRYPT, or HMAC_256 with GENERATE_VERIFY_MAC.");
        }

        if (request.Origin is not (null or "AWS_KMS"))
        {
            throw KmsFault.Validation($"Origin {request.Origin} is not supported by this endpoint: only AWS_KMS.");
        }

        if (request.MultiRegion == true)
        {
            throw KmsFault.Validation("Multi-Region keys are not supported by this endpoint.");
        }

        if (request.Tags is { Count: > 0 })
        {
            throw KmsFault.Validation("Tags are not supported by this endpoint.");
        }

        if (request.Description is { Length: > 8192 })
        {
            throw KmsFault.Constraint("description", null, "Member must have length less than or equal to 8192");
        }

        var keyId = Guid.NewGuid().ToString("D");
        var policyText = request.Policy ?? KeyPolicy.DefaultPolicyText(store.AccountId);
        var policy = KeyPolicy.Parse(policyText, store.AccountId);
        if (request.BypassPolicyLockoutSafetyCheck != true)
        {
            CheckLockout(policy, caller, keyId);
        }

        var key = new KmsKey(keyId, Now(), request.Description ?? string.Empty, keyUsage, keySpec, "Enabled", null, null, policyText, policy,
            RandomNumberGenerator.GetBytes(32));
        store.AddKey(key);
        return new KeyMetadataResponse { KeyMetadata = Metadata(key) };
    }

    private KeyMetadataResponse DescribeKey(KeyIdRequest request, Principal caller)
    {
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: true);
        Authorize(caller, "kms:DescribeKey", key);
        return new KeyMetadataResponse { KeyMetadata = Metadata(key) };
    }

    private ListKeysResponse ListKeys(ListRequest request)
    {
        var keys = store.ListKeys().Where(k => !IsDeleted(k)).ToList();
        var (page, next) = Page(keys, request);
        return new ListKeysResponse
        {
            Keys = [.. page.Select(k => new KeyListEntry { KeyId = k.KeyId, KeyArn = KeyArn(k.KeyId) })],
            NextMarker = next,
            Truncated = next is not null,
        };
    }

    private EmptyResponse CreateAlias(AliasRequest request, Principal caller)
    {
        var aliasName = ValidateAliasName(request.AliasName);
        var key = ResolveKey(request.TargetKeyId, "targetKeyId", allowAlias: false);
        Authorize(caller, "kms:CreateAlias", key);
        RequireNotPendingDeletion(key);
        var now = Now();
        store.AddAlias(new KmsAlias(aliasName, key.KeyId, now, now));
        return new EmptyResponse();
    }

    private ListAliasesResponse ListAliases(ListRequest request)
    {
        string? targetKeyId = request.KeyId is null ? null : ResolveKey(request.KeyId, "keyId", allowAlias: false).KeyId;
        var aliases = store.ListAliases().Where(a => targetKeyId is null || a.TargetKeyId == targetKeyId).ToList();
        var (page, next) = Page(aliases, request);
        return new ListAliasesResponse
        {
            Aliases = [.. page.Select(a => new AliasListEntry
            {
                AliasName = a.AliasName,
                AliasArn = AliasArn(a.AliasName),
                TargetKeyId = a.TargetKeyId,
                CreationDate = a.CreationDate,
                LastUpdatedDate = a.LastUpdatedDate,
            })],
            NextMarker = next,
            Truncated = next is not null,
        };
    }

    private EmptyResponse DeleteAlias(AliasRequest request, Principal caller)
    {
        var aliasName = ValidateAliasName(request.AliasName);
        var alias = store.FindAlias(aliasName) ?? throw KmsFault.NotFound($"Alias {AliasArn(aliasName)} is not found.");
        var key = store.FindKey(alias.TargetKeyId);
        if (key is not null)
        {
            Authorize(caller, "kms:DeleteAlias", key);
        }

        if (!store.RemoveAlias(aliasName))
        {
            throw KmsFault.NotFound($"Alias {AliasArn(aliasName)} is not found.");
        }

        return new EmptyResponse();
    }

    private GetKeyPolicyResponse GetKeyPolicy(KeyPolicyRequest request, Principal caller)
    {
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: false);
        RequireDefaultPolicyName(request.PolicyName);
        Authorize(caller, "kms:GetKeyPolicy", key);
        return new GetKeyPolicyResponse { Policy = key.PolicyText, PolicyName = "default" };
    }

    private EmptyResponse PutKeyPolicy(KeyPolicyRequest request, Principal caller)
    {
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: false);
        RequireDefaultPolicyName(request.PolicyName);
        var policyText = request.Policy ?? throw KmsFault.Required("policy");
        Authorize(caller, "kms:PutKeyPolicy", key);
        RequireNotPendingDeletion(key);
        var policy = KeyPolicy.Parse(policyText, store.AccountId);
        if (request.BypassPolicyLockoutSafetyCheck != true)
        {
            CheckLockout(policy, caller, key.KeyId);
        }

        store.UpdateKey(key.KeyId, current => current with { PolicyText = policyText, Policy = policy });
        return new EmptyResponse();
    }

    private EncryptResponse Encrypt(EncryptRequest request, Principal caller)
    {
        RequireContextValues(request.EncryptionContext, "encryptionContext");
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: true);
        var plaintext = request.Plaintext ?? throw KmsFault.Required("plaintext");
        RequireLength(plaintext, 1, MaxPlaintext, "plaintext");
        Authorize(caller, "kms:Encrypt", key, context => context.WithEncryptionContext(request.EncryptionContext));
        RequireUsableForEncryption(key, request.EncryptionAlgorithm);
        DryRunStop(request.DryRun);
        return new EncryptResponse
        {
            CiphertextBlob = CiphertextBlob.Seal(key.KeyId, key.Material, plaintext, request.EncryptionContext),
            KeyId = KeyArn(key.KeyId),
            EncryptionAlgorithm = SymmetricDefault,
        };
    }

    private DecryptResponse Decrypt(DecryptRequest request, Principal caller)
    {
        RequireContextValues(request.EncryptionContext, "encryptionContext");
        var blob = request.CiphertextBlob ?? throw KmsFault.Required("ciphertextBlob");
        RequireLength(blob, 1, MaxCiphertext, "ciphertextBlob");
        var key = KeyOfCiphertext(blob, request.KeyId, "keyId");
        var recipient = VerifyRecipient(request.Recipient);
        Authorize(caller, "kms:Decrypt", key, context => context.WithEncryptionContext(request.EncryptionContext).WithAttestation(recipient?.Pcrs));
        RequireUsableForEncryption(key, request.EncryptionAlgorithm);
        DryRunStop(request.DryRun);
        var plaintext = CiphertextBlob.Open(key.Material, blob, request.EncryptionContext);
        return new DecryptResponse
        {
            KeyId = KeyArn(key.KeyId),
            EncryptionAlgorithm = SymmetricDefault,
            Plaintext = recipient is null ? plaintext : null,
            CiphertextForRecipient = recipient is null ? null : RecipientEnvelope.Seal(plaintext, recipient.SubjectPublicKeyInfo),
        };
    }

    private ReEncryptResponse ReEncrypt(ReEncryptRequest request, Principal caller)
    {
        RequireContextValues(request.SourceEncryptionContext, "sourceEncryptionContext");
        RequireContextValues(request.DestinationEncryptionContext, "destinationEncryptionContext");
        var blob = request.CiphertextBlob ?? throw KmsFault.Required("ciphertextBlob");
        RequireLength(blob, 1, MaxCiphertext, "ciphertextBlob");
        var destination = ResolveKey(request.DestinationKeyId, "destinationKeyId", allowAlias: true);
        var source = KeyOfCiphertext(blob, request.SourceKeyId, "sourceKeyId");
        Authorize(caller, "kms:ReEncryptFrom", source, context => context.WithEncryptionContext(request.SourceEncryptionContext));
        Authorize(caller, "kms:ReEncryptTo", destination, context => context.WithEncryptionContext(request.DestinationEncryptionContext));
        RequireUsableForEncryption(source, request.SourceEncryptionAlgorithm);
        RequireUsableForEncryption(destination, request.DestinationEncryptionAlgorithm);
        DryRunStop(request.DryRun);
        var plaintext = CiphertextBlob.Open(source.Material, blob, request.SourceEncryptionContext);
        try
        {
            return new ReEncryptResponse
            {
                CiphertextBlob = CiphertextBlob.Seal(destination.KeyId, destination.Material, plaintext, request.DestinationEncryptionContext),
                SourceKeyId = KeyArn(source.KeyId),
                KeyId = KeyArn(destination.KeyId),
                SourceEncryptionAlgorithm = SymmetricDefault,
                DestinationEncryptionAlgorithm = SymmetricDefault,
            };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private GenerateDataKeyResponse GenerateDataKey(GenerateDataKeyRequest request, Principal caller, bool withPlaintext)
    {
        RequireContextValues(request.EncryptionContext, "encryptionContext");
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: true);
        var size = DataKeySize(request);
        var recipient = withPlaintext ? VerifyRecipient(request.Recipient) : null;
        var action = withPlaintext ? "kms:GenerateDataKey" : "kms:GenerateDataKeyWithoutPlaintext";
        Authorize(caller, action, key, context => context.WithEncryptionContext(request.EncryptionContext).WithAttestation(recipient?.Pcrs));
        RequireUsableForEncryption(key, null);
        DryRunStop(request.DryRun);
        var dataKey = RandomNumberGenerator.GetBytes(size);
        return new GenerateDataKeyResponse
        {
            CiphertextBlob = CiphertextBlob.Seal(key.KeyId, key.Material, dataKey, request.EncryptionContext),
            KeyId = KeyArn(key.KeyId),
            Plaintext = withPlaintext && recipient is null ? dataKey : null,
            CiphertextForRecipient = recipient is null ? null : RecipientEnvelope.Seal(dataKey, recipient.SubjectPublicKeyInfo),
        };
    }

    private GenerateRandomResponse GenerateRandom(GenerateRandomRequest request)
    {
        var size = request.NumberOfBytes ?? throw KmsFault.Required("numberOfBytes");
        RequireRange(size, 1, MaxDataKeyBytes, "numberOfBytes");
        if (request.CustomKeyStoreId is not null)
        {
            throw KmsFault.Validation("Custom key stores are not supported by this endpoint.");
        }

        var recipient = VerifyRecipient(request.Recipient);
        var random = RandomNumberGenerator.GetBytes(size);
        return recipient is null
            ? new GenerateRandomResponse { Plaintext = random }
            : new GenerateRandomResponse { CiphertextForRecipient = RecipientEnvelope.Seal(random, recipient.SubjectPublicKeyInfo) };
    }

    private ScheduleKeyDeletionResponse ScheduleKeyDeletion(ScheduleKeyDeletionRequest request, Principal caller)
    {
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: false);
        var days = request.PendingWindowInDays ?? 30;
        RequireRange(days, 7, 30, "pendingWindowInDays");
        Authorize(caller, "kms:ScheduleKeyDeletion", key);
        var deletionDate = Now() + TimeSpan.FromDays(days).TotalSeconds;
        var updated = store.UpdateKey(key.KeyId, current =>
        {
            RequireNotPendingDeletion(current);
            return current with { KeyState = "PendingDeletion", DeletionDate = deletionDate, PendingWindowInDays = days };
        });
        return new ScheduleKeyDeletionResponse
        {
            KeyId = KeyArn(key.KeyId),
            DeletionDate = updated.DeletionDate,
            KeyState = updated.KeyState,
            PendingWindowInDays = days,
        };
    }

    private EmptyResponse SetEnabled(KeyIdRequest request, Principal caller, bool enabled)
    {
        var key = ResolveKey(request.KeyId, "keyId", allowAlias: false);
        Authorize(caller, enabled ? "kms:EnableKey" : "kms:DisableKey", key);
        store.UpdateKey(key.KeyId, current =>
        {
            RequireNotPendingDeletion(current);
            return current with { KeyState = enabled ? "Enabled" : "Disabled" };
        });
        return new EmptyResponse();
    }

    /// <summary>KMS refuses a policy that would stop the caller from changing it again (unless the check is bypassed).</summary>
    private void CheckLockout(KeyPolicy policy, Principal caller, string keyId)
    {
        var context = new RequestContext(caller.Arn, caller.AccountId, "kms:PutKeyPolicy", KeyArn(keyId), caller.RoleArn);
        if (policy.Evaluate(context) != PolicyDecision.Allow)
        {
            throw KmsFault.MalformedPolicy("The new key policy will not allow you to update the key policy in the future.");
        }
    }

    private void Authorize(Principal caller, string action, KmsKey key, Action<RequestContext>? addConditionKeys = null)
    {
        var resource = KeyArn(key.KeyId);
        var context = new RequestContext(caller.Arn, caller.AccountId, action, resource, caller.RoleArn);
        addConditionKeys?.Invoke(context);
        var decision = key.Policy.Evaluate(context);
        if (decision != PolicyDecision.Allow)
        {
            var reason = decision == PolicyDecision.ExplicitDeny
                ? "with an explicit deny in a resource-based policy"
                : $"because no resource-based policy allows the {action} action";
            throw KmsFault.AccessDenied($"User: {caller.Arn} is not authorized to perform: {action} on resource: {resource} {reason}");
        }
    }

    private VerifiedRecipient? VerifyRecipient(RecipientInfo? recipient)
    {
        if (recipient is null)
        {
            return null;
        }

        if (recipient.KeyEncryptionAlgorithm != RsaesOaepSha256)
        {
            throw KmsFault.Constraint("recipient.keyEncryptionAlgorithm", recipient.KeyEncryptionAlgorithm, $"Member must satisfy enum value set: [{RsaesOaepSha256}]");
        }

        if (recipient.AttestationDocument is not { Length: > 0 } document)
        {
            throw KmsFault.Required("recipient.attestationDocument");
        }

        return recipientVerifier.Verify(document);
    }

    /// <summary>The key a ciphertext names; when the request also names one, it must be the same key.</summary>
    private KmsKey KeyOfCiphertext(byte[] blob, string? requestedKeyId, string member)
    {
        var blobKeyId = CiphertextBlob.ReadKeyId(blob) ?? throw KmsFault.InvalidCiphertext();
        if (requestedKeyId is not null)
        {
            var requested = ResolveKey(requestedKeyId, member, allowAlias: true);
            if (requested.KeyId != blobKeyId)
            {
                throw new KmsException(KmsErrorTypes.IncorrectKey, "The key ID in the request does not identify a KMS key that can perform this operation.");
            }
        }

        var key = store.FindKey(blobKeyId);
        return key is null || IsDeleted(key) ? throw KmsFault.NotFound($"Key '{KeyArn(blobKeyId)}' does not exist") : key;
    }

    private KmsKey ResolveKey(string? identifier, string member, bool allowAlias)
    {
        if (string.IsNullOrEmpty(identifier))
        {
            throw KmsFault.Required(member);
        }

        if (identifier.Length > 2048)
        {
            throw KmsFault.Constraint(member, null, "Member must have length less than or equal to 2048");
        }

        string keyId;
        var arn = KmsArn().Match(identifier);
        var resource = arn.Success ? arn.Groups["resource"].Value : identifier;
        // KMS knows only the keys of its own partition, region and account: any other ARN names a key it does not have.
        if (arn.Success && (arn.Groups["partition"].Value != "aws" || arn.Groups["region"].Value != region || arn.Groups["account"].Value != store.AccountId))
        {
            throw KmsFault.NotFound($"Invalid arn {identifier}");
        }

        if (resource.StartsWith("alias/", StringComparison.Ordinal))
        {
            if (!allowAlias)
            {
                throw KmsFault.NotFound($"Invalid keyId {identifier}");
            }

            keyId = store.FindAlias(resource)?.TargetKeyId ?? throw KmsFault.NotFound($"Alias {AliasArn(resource)} is not found.");
        }
        else if (resource.StartsWith("key/", StringComparison.Ordinal) && arn.Success)
        {
            keyId = resource["key/".Length..];
        }
        else if (!arn.Success && Guid.TryParseExact(identifier, "D", out _))
        {
            keyId = identifier;
        }
        else
        {
            throw KmsFault.NotFound($"Invalid keyId {identifier}");
        }

        var key = store.FindKey(keyId);
        return key is null || IsDeleted(key) ? throw KmsFault.NotFound($"Key '{KeyArn(keyId)}' does not exist") : key;
    }

    /// <summary>A key whose deletion date has passed is gone, as in KMS.</summary>
    private bool IsDeleted(KmsKey key) => key.KeyState == "PendingDeletion" && key.DeletionDate <= Now();

    private void RequireUsableForEncryption(KmsKey key, string? algorithm)
    {
        RequireNotPendingDeletion(key);
        if (key.KeyState == "Disabled")
        {
            throw new KmsException(KmsErrorTypes.Disabled, $"{KeyArn(key.KeyId)} is disabled.");
        }

        if (key.KeyUsage != EncryptDecrypt)
        {
            throw new KmsException(KmsErrorTypes.InvalidKeyUsage, $"{KeyArn(key.KeyId)} key usage is {key.KeyUsage} which is not valid for this operation.");
        }

        if (algorithm is not (null or SymmetricDefault))
        {
            throw new KmsException(KmsErrorTypes.InvalidKeyUsage, $"The encryption algorithm {algorithm} is not compatible with {KeyArn(key.KeyId)}.");
        }
    }

    private void RequireNotPendingDeletion(KmsKey key)
    {
        if (key.KeyState == "PendingDeletion")
        {
            throw KmsFault.InvalidState($"{KeyArn(key.KeyId)} is pending deletion.");
        }
    }

    private static void DryRunStop(bool? dryRun)
    {
        if (dryRun == true)
        {
            throw new KmsException("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.");
        }
    }

    private static int DataKeySize(GenerateDataKeyRequest request)
    {
        if (request.NumberOfBytes is not null && request.KeySpec is not null)
        {
            throw KmsFault.Validation("Please specify either number of bytes or key spec.");
        }

        if (request.NumberOfBytes is { } bytes)
        {
            RequireRange(bytes, 1, MaxDataKeyBytes, "numberOfBytes");
            return bytes;
        }

        return request.KeySpec switch
        {
            "AES_256" => 32,
            "AES_128" => 16,
            null => throw KmsFault.Validation("Please specify either number of bytes or key spec."),
            _ => throw KmsFault.Constraint("keySpec", request.KeySpec, "Member must satisfy enum value set: [AES_256, AES_128]"),
        };
    }

    private string ValidateAliasName(string? aliasName)
    {
        if (string.IsNullOrEmpty(aliasName))
        {
            throw KmsFault.Required("aliasName");
        }

        if (aliasName.Length > 256 || !AliasNamePattern().IsMatch(aliasName))
        {
            throw KmsFault.Constraint("aliasName", aliasName, "Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$");
        }

        if (aliasName.StartsWith("alias/aws/", StringComparison.Ordinal))
        {
            throw new KmsException(KmsErrorTypes.InvalidAliasName, $"Alias {AliasArn(aliasName)} uses the reserved prefix alias/aws/.");
        }

        return aliasName;
    }

    private static void RequireDefaultPolicyName(string? policyName)
    {
        if (policyName is not (null or "default"))
        {
            throw KmsFault.NotFound($"The only valid policy name is 'default', not '{policyName}'.");
        }
    }

    private static (List<T> Page, string? NextMarker) Page<T>(List<T> items, ListRequest request)
    {
        var limit = request.Limit ?? 100;
        RequireRange(limit, 1, 1000, "limit");
        var start = 0;
        if (request.Marker is not null && (!int.TryParse(request.Marker, out start) || start < 0 || start > items.Count))
        {
            throw new KmsException(KmsErrorTypes.InvalidMarker, "The marker does not come from a previous response.");
        }

        var page = items.Skip(start).Take(limit).ToList();
        var next = start + page.Count < items.Count ? (start + page.Count).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return (page, next);
    }

    /// <summary>JSON null parses as a map value, but an encryption context maps strings to strings.</summary>
    private static void RequireContextValues(Dictionary<string, string>? context, string member)
    {
        if (context is not null && context.ContainsValue(null!))
        {
            throw KmsFault.Constraint(member, null, "Map value must not be null");
        }
    }

    private static void RequireLength(byte[] value, int min, int max, string member)
    {
        if (value.Length < min)
        {
            throw KmsFault.Constraint(member, null, $"Member must have length greater than or equal to {min}");
        }

        if (value.Length > max)
        {
            throw KmsFault.Constraint(member, null, $"Member must have length less than or equal to {max}");
        }
    }

    private static void RequireRange(int value, int min, int max, string member)
    {
        var text = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (value < min)
        {
            throw KmsFault.Constraint(member, text, $"Member must have value greater than or equal to {min}");
        }

        if (value > max)
        {
            throw KmsFault.Constraint(member, text, $"Member must have value less than or equal to {max}");
        }
    }

    private KeyMetadata Metadata(KmsKey key) => new()
    {
        AWSAccountId = store.AccountId,
        KeyId = key.KeyId,
        Arn = KeyArn(key.KeyId),
        CreationDate = key.CreationDate,
        Enabled = key.KeyState == "Enabled",
        Description = key.Description,
        KeyUsage = key.KeyUsage,
        KeyState = key.KeyState,
        DeletionDate = key.DeletionDate,
        PendingDeletionWindowInDays = key.PendingWindowInDays,
        Origin = "AWS_KMS",
        KeyManager = "CUSTOMER",
        CustomerMasterKeySpec = key.KeySpec,
        KeySpec = key.KeySpec,
        EncryptionAlgorithms = key.KeyUsage == EncryptDecrypt ? [SymmetricDefault] : null,
        MacAlgorithms = key.KeyUsage == GenerateVerifyMac ? ["HMAC_SHA_256"] : null,
        MultiRegion = false,
    };

    /// <summary>Epoch seconds, the JSON protocol's timestamp form.</summary>
    private double Now() => time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;

    [GeneratedRegex(@"^arn:(?<partition>aws[a-z-]*):kms:(?<region>[a-z0-9-]+):(?<account>\d{12}):(?<resource>.+)$")]
    private static partial Regex KmsArn();

    [GeneratedRegex(@"^alias/[a-zA-Z0-9/_-]+$")]
    private static partial Regex AliasNamePattern();
}
