using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.LocalKms.Keys;
using NitroEnclave.Tests;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>Every error shape, as the SDK raises it: typed exceptions where the KMS model has them, error codes otherwise.</summary>
public sealed class KmsErrorTests : IAsyncLifetime
{
    private LocalKmsHost _host = null!;
    private AmazonKeyManagementServiceClient _kms = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync(maxRequestBytes: 64 * 1024);
        _kms = _host.AdminClient();
    }

    public async Task DisposeAsync()
    {
        _kms.Dispose();
        await _host.DisposeAsync();
    }

    private RawKmsClient Raw() => new(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);

    private async Task<KeyMetadata> NewKeyAsync(string? policy = null) =>
        (await _kms.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata;

    private static async Task<AmazonServiceException> ErrorCodeAsync(string code, Func<Task> call)
    {
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(call);
        Assert.Equal(code, error.ErrorCode);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, error.StatusCode);
        return error;
    }

    [Fact]
    public async Task Unknown_keys_and_aliases_are_NotFoundException()
    {
        var missing = Guid.NewGuid().ToString();
        var error = await Assert.ThrowsAsync<NotFoundException>(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = missing }));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NotFoundException>(() => _kms.EncryptAsync(new EncryptRequest { KeyId = "alias/none", Plaintext = new MemoryStream([1]) }));
        await Assert.ThrowsAsync<NotFoundException>(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = $"arn:aws:kms:us-east-1:999999999999:key/{missing}" }));
        await Assert.ThrowsAsync<NotFoundException>(() => _kms.DeleteAliasAsync(new DeleteAliasRequest { AliasName = "alias/none" }));

        // Aliases are not accepted where KMS takes only key ids and ARNs.
        var key = await NewKeyAsync();
        await _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/only-for-crypto", TargetKeyId = key.KeyId });
        await Assert.ThrowsAsync<NotFoundException>(() => _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = "alias/only-for-crypto" }));
    }

    [Fact]
    public async Task A_key_ARN_of_another_region_account_or_partition_is_NotFoundException_even_for_an_existing_key_id()
    {
        var key = await NewKeyAsync();
        Assert.Equal(key.Arn, (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.Arn })).KeyMetadata.Arn);
        var blob = (await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) })).CiphertextBlob.ToArray();
        foreach (var foreign in new[]
        {
            $"arn:aws:kms:eu-west-1:111122223333:key/{key.KeyId}",
            $"arn:aws:kms:us-east-1:444455556666:key/{key.KeyId}",
            $"arn:aws-cn:kms:us-east-1:111122223333:key/{key.KeyId}",
            "arn:aws:kms:eu-west-1:111122223333:alias/none",
        })
        {
            var error = await Assert.ThrowsAsync<NotFoundException>(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = foreign }));
            Assert.Equal($"Invalid arn {foreign}", error.Message);
            await Assert.ThrowsAsync<NotFoundException>(() => _kms.EncryptAsync(new EncryptRequest { KeyId = foreign, Plaintext = new MemoryStream([1]) }));
            await Assert.ThrowsAsync<NotFoundException>(() => _kms.DecryptAsync(new DecryptRequest { KeyId = foreign, CiphertextBlob = new MemoryStream(blob) }));
        }
    }

    [Fact]
    public async Task Tampered_ciphertext_and_wrong_context_are_InvalidCiphertextException()
    {
        var key = await NewKeyAsync();
        var context = new Dictionary<string, string> { ["k"] = "v" };
        var blob = (await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1, 2, 3]), EncryptionContext = context })).CiphertextBlob.ToArray();

        var tampered = (byte[])blob.Clone();
        tampered[^20] ^= 1;
        await Assert.ThrowsAsync<InvalidCiphertextException>(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(tampered), EncryptionContext = context }));
        await Assert.ThrowsAsync<InvalidCiphertextException>(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(blob), EncryptionContext = new() { ["k"] = "other" } }));
        await Assert.ThrowsAsync<InvalidCiphertextException>(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(blob) }));
        await Assert.ThrowsAsync<InvalidCiphertextException>(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(Encoding.ASCII.GetBytes("not a kms ciphertext at all, not at all")) }));
    }

    [Fact]
    public async Task A_ciphertext_bound_to_one_key_does_not_open_with_another_IncorrectKeyException()
    {
        var a = await NewKeyAsync();
        var b = await NewKeyAsync();
        var blob = (await _kms.EncryptAsync(new EncryptRequest { KeyId = a.KeyId, Plaintext = new MemoryStream([1]) })).CiphertextBlob;
        await Assert.ThrowsAsync<IncorrectKeyException>(() => _kms.ReEncryptAsync(new ReEncryptRequest { CiphertextBlob = blob, SourceKeyId = b.KeyId, DestinationKeyId = b.KeyId }));
        blob.Position = 0;
        await Assert.ThrowsAsync<IncorrectKeyException>(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = blob, KeyId = b.Arn }));
    }

    [Fact]
    public async Task Duplicate_alias_is_AlreadyExistsException_and_bad_names_are_rejected()
    {
        var key = await NewKeyAsync();
        await _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/dup", TargetKeyId = key.KeyId });
        await Assert.ThrowsAsync<AlreadyExistsException>(() => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/dup", TargetKeyId = key.KeyId }));
        await Assert.ThrowsAsync<InvalidAliasNameException>(() => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/aws/reserved", TargetKeyId = key.KeyId }));
        await ErrorCodeAsync("ValidationException", () => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "no-prefix", TargetKeyId = key.KeyId }));
    }

    [Fact]
    public async Task A_MAC_key_used_for_encryption_is_InvalidKeyUsageException()
    {
        var mac = (await _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.HMAC_256, KeyUsage = KeyUsageType.GENERATE_VERIFY_MAC })).KeyMetadata;
        Assert.Equal([MacAlgorithmSpec.HMAC_SHA_256], mac.MacAlgorithms);
        await Assert.ThrowsAsync<InvalidKeyUsageException>(() => _kms.EncryptAsync(new EncryptRequest { KeyId = mac.KeyId, Plaintext = new MemoryStream([1]) }));
        await Assert.ThrowsAsync<InvalidKeyUsageException>(() => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = mac.KeyId, KeySpec = DataKeySpec.AES_256 }));
    }

    [Fact]
    public async Task Out_of_range_and_missing_members_are_ValidationException()
    {
        var key = await NewKeyAsync();
        using var raw = Raw();
        var (status, type, message, _) = await raw.SendAsync("TrentService.GenerateRandom", """{"NumberOfBytes":2000}""");
        Assert.Equal((400, "ValidationException"), (status, type));
        Assert.Equal("1 validation error detected: Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024", message);
        await ErrorCodeAsync("ValidationException", () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId }));
        await ErrorCodeAsync("ValidationException", () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, NumberOfBytes = 32 }));
        await ErrorCodeAsync("ValidationException", () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream(new byte[4097]) }));
        await ErrorCodeAsync("ValidationException", () => _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 3 }));
        await ErrorCodeAsync("ValidationException", () => _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.RSA_2048, KeyUsage = KeyUsageType.ENCRYPT_DECRYPT }));
        await ErrorCodeAsync("ValidationException", () => _kms.DescribeKeyAsync(new DescribeKeyRequest()));
        await Assert.ThrowsAsync<InvalidMarkerException>(() => _kms.ListKeysAsync(new ListKeysRequest { Marker = "garbage" }));
    }

    [Fact]
    public async Task DryRun_stops_a_request_that_would_succeed()
    {
        var key = await NewKeyAsync();
        await Assert.ThrowsAsync<DryRunOperationException>(() => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]), DryRun = true }));
    }

    [Fact]
    public async Task A_denied_request_is_AccessDeniedException_naming_principal_action_and_key()
    {
        var policy = """
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}
            """;
        var key = await NewKeyAsync(policy);
        var error = await ErrorCodeAsync("AccessDeniedException", () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) }));
        Assert.Equal(
            $"User: arn:aws:iam::111122223333:user/admin is not authorized to perform: kms:Encrypt on resource: {key.Arn} with an explicit deny in a resource-based policy",
            error.Message);
    }

    [Fact]
    public async Task A_policy_with_Not_elements_and_set_operators_is_accepted_and_enforced()
    {
        // The admin may do everything but Decrypt (NotAction), and nobody but the admin anything (NotPrincipal);
        // Encrypt needs a context whose keys are all "purpose" or "team" and that has one of them (ForAllValues, ForAnyValue).
        var policy = """
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"NotAction":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","NotResource":"arn:aws:kms:*:111122223333:alias/*",
               "Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["purpose","team"]},"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["purpose","team"]}}},
              {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"Action":"kms:*","Resource":"*"}]}
            """;
        var key = await NewKeyAsync(policy);
        Assert.Equal(policy, (await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId })).Policy);

        var blob = (await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]), EncryptionContext = new() { ["purpose"] = "p" } })).CiphertextBlob;
        var denied = await ErrorCodeAsync("AccessDeniedException", () => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = blob, EncryptionContext = new() { ["purpose"] = "p" } }));
        Assert.EndsWith("because no resource-based policy allows the kms:Decrypt action", denied.Message, StringComparison.Ordinal);
        await ErrorCodeAsync("AccessDeniedException", () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]), EncryptionContext = new() { ["purpose"] = "p", ["other"] = "o" } }));
        await ErrorCodeAsync("AccessDeniedException", () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) }));

        var other = LocalKmsData.OpenPrincipals(_host.DataPath).Add("arn:aws:iam::111122223333:role/Other");
        using var otherKms = _host.Client(other.AccessKeyId, other.SecretAccessKey);
        var error = await ErrorCodeAsync("AccessDeniedException", () => otherKms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]), EncryptionContext = new() { ["team"] = "t" } }));
        Assert.EndsWith("with an explicit deny in a resource-based policy", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unsupported_policy_content_is_MalformedPolicyDocumentException_naming_it()
    {
        var service = """{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]}""";
        var error = await Assert.ThrowsAsync<MalformedPolicyDocumentException>(() => NewKeyAsync(service));
        Assert.Contains("'Service'", error.Message, StringComparison.Ordinal);

        var key = await NewKeyAsync();
        var numeric = """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:CallerAccount":"5"}}}]}""";
        error = await Assert.ThrowsAsync<MalformedPolicyDocumentException>(() => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, Policy = numeric }));
        Assert.Contains("NumericLessThan", error.Message, StringComparison.Ordinal);

        var sourceIp = """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"1.2.3.4"}}}]}""";
        error = await Assert.ThrowsAsync<MalformedPolicyDocumentException>(() => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, Policy = sourceIp }));
        Assert.Contains("aws:SourceIp", error.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<MalformedPolicyDocumentException>(() => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, Policy = "{not json" }));
    }

    [Fact]
    public async Task PutKeyPolicy_refuses_to_lock_the_caller_out_unless_the_check_is_bypassed()
    {
        var key = await NewKeyAsync();
        var lockout = """{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Other"},"Action":"kms:*","Resource":"*"}]}""";
        var error = await Assert.ThrowsAsync<MalformedPolicyDocumentException>(() => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, Policy = lockout }));
        Assert.Contains("will not allow you to update the key policy", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<MalformedPolicyDocumentException>(() => NewKeyAsync(lockout));

        await _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, Policy = lockout, BypassPolicyLockoutSafetyCheck = true });
        await ErrorCodeAsync("AccessDeniedException", () => _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId }));
    }

    [Fact]
    public async Task Bad_json_is_SerializationException()
    {
        using var _raw = Raw();
        var (status, type, _, _) = await _raw.SendAsync("TrentService.ListKeys", "{\"Limit\": ");
        Assert.Equal((400, "SerializationException"), (status, type));
        (status, type, _, _) = await _raw.SendAsync("TrentService.Encrypt", """{"KeyId":"x","Plaintext":"%%% not base64"}""");
        Assert.Equal((400, "SerializationException"), (status, type));
        (status, type, _, _) = await _raw.SendAsync("TrentService.ListKeys", "[1,2]");
        Assert.Equal((400, "SerializationException"), (status, type));
    }

    [Fact]
    public async Task Unknown_target_is_UnknownOperationException()
    {
        using var _raw = Raw();
        var (status, type, _, _) = await _raw.SendAsync("TrentService.ExplodeKey", "{}");
        Assert.Equal((400, "UnknownOperationException"), (status, type));
        (status, type, _, _) = await _raw.SendAsync("OtherService.ListKeys", "{}");
        Assert.Equal((400, "UnknownOperationException"), (status, type));
    }

    [Fact]
    public async Task A_body_over_the_limit_is_refused_with_413()
    {
        using var _raw = Raw();
        var huge = "{\"Description\":\"" + new string('a', 100 * 1024) + "\"}";
        var (status, type, message, _) = await _raw.SendAsync("TrentService.CreateKey", huge);
        Assert.Equal((413, "RequestEntityTooLargeException"), (status, type));
        Assert.Contains("65536", message, StringComparison.Ordinal);

        // The server is still healthy afterwards.
        (status, _, _, _) = await _raw.SendAsync("TrentService.ListKeys", "{}");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task An_unsigned_request_is_MissingAuthenticationTokenException()
    {
        using var unsigned = new RawKmsClient(_host.Server.Endpoint, "x", "y");
        var (status, type, _, _) = await unsigned.SendAsync("TrentService.ListKeys", "{}"u8.ToArray(), sign: false);
        Assert.Equal((400, "MissingAuthenticationTokenException"), (status, type));
    }
}
