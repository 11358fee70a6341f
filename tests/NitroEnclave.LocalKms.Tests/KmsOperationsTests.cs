using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Tests;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>Every operation through the unmodified AWS SDK for .NET, pointed at the local endpoint by ServiceURL only.</summary>
public sealed class KmsOperationsTests : IAsyncLifetime
{
    private LocalKmsHost _host = null!;
    private AmazonKeyManagementServiceClient _kms = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync();
        _kms = _host.AdminClient();
    }

    public async Task DisposeAsync()
    {
        _kms.Dispose();
        await _host.DisposeAsync();
    }

    private async Task<KeyMetadata> NewKeyAsync(string description = "test") =>
        (await _kms.CreateKeyAsync(new CreateKeyRequest { Description = description })).KeyMetadata;

    [Fact]
    public async Task CreateKey_and_DescribeKey_return_KMS_shaped_metadata()
    {
        var before = DateTime.UtcNow.AddSeconds(-1);
        var created = await NewKeyAsync("orders");

        Assert.True(Guid.TryParse(created.KeyId, out _));
        Assert.Equal($"arn:aws:kms:us-east-1:111122223333:key/{created.KeyId}", created.Arn);
        Assert.Equal("111122223333", created.AWSAccountId);
        Assert.Equal(KeyState.Enabled, created.KeyState);
        Assert.True(created.Enabled);
        Assert.Equal(KeySpec.SYMMETRIC_DEFAULT, created.KeySpec);
        Assert.Equal(KeyUsageType.ENCRYPT_DECRYPT, created.KeyUsage);
        Assert.Equal([EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT], created.EncryptionAlgorithms);
        Assert.InRange(created.CreationDate!.Value.ToUniversalTime(), before, DateTime.UtcNow.AddSeconds(1));

        foreach (var id in new[] { created.KeyId, created.Arn })
        {
            var described = (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = id })).KeyMetadata;
            Assert.Equal(created.KeyId, described.KeyId);
            Assert.Equal("orders", described.Description);
        }
    }

    [Fact]
    public async Task ListKeys_pages_with_markers()
    {
        var ids = new HashSet<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await NewKeyAsync()).KeyId);
        }

        var seen = new List<string>();
        string? marker = null;
        do
        {
            var page = await _kms.ListKeysAsync(new ListKeysRequest { Limit = 2, Marker = marker });
            Assert.True(page.Keys.Count <= 2);
            Assert.All(page.Keys, k => Assert.Equal($"arn:aws:kms:us-east-1:111122223333:key/{k.KeyId}", k.KeyArn));
            seen.AddRange(page.Keys.Select(k => k.KeyId));
            marker = page.Truncated == true ? page.NextMarker : null;
        }
        while (marker is not null);

        Assert.Superset(ids, seen.ToHashSet());
        Assert.Equal(seen.Count, seen.Distinct().Count());
    }

    [Fact]
    public async Task Aliases_are_created_listed_used_everywhere_and_deleted()
    {
        var key = await NewKeyAsync();
        await _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/orders", TargetKeyId = key.Arn });

        var listed = (await _kms.ListAliasesAsync(new ListAliasesRequest { KeyId = key.KeyId })).Aliases;
        var alias = Assert.Single(listed);
        Assert.Equal("alias/orders", alias.AliasName);
        Assert.Equal("arn:aws:kms:us-east-1:111122223333:alias/orders", alias.AliasArn);
        Assert.Equal(key.KeyId, alias.TargetKeyId);

        foreach (var id in new[] { "alias/orders", alias.AliasArn })
        {
            Assert.Equal(key.KeyId, (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = id })).KeyMetadata.KeyId);
            var encrypted = await _kms.EncryptAsync(new EncryptRequest { KeyId = id, Plaintext = new MemoryStream([1, 2, 3]) });
            Assert.Equal(key.Arn, encrypted.KeyId);
            var decrypted = await _kms.DecryptAsync(new DecryptRequest { KeyId = id, CiphertextBlob = encrypted.CiphertextBlob });
            Assert.Equal([1, 2, 3], decrypted.Plaintext.ToArray());
        }

        await _kms.DeleteAliasAsync(new DeleteAliasRequest { AliasName = "alias/orders" });
        Assert.Empty((await _kms.ListAliasesAsync(new ListAliasesRequest { KeyId = key.KeyId })).Aliases);
        await Assert.ThrowsAsync<NotFoundException>(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/orders" }));
    }

    [Fact]
    public async Task GetKeyPolicy_returns_the_default_policy_and_PutKeyPolicy_replaces_it()
    {
        var key = await NewKeyAsync();
        var policy = (await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" })).Policy;
        Assert.Contains("arn:aws:iam::111122223333:root", policy, StringComparison.Ordinal);
        Assert.Contains("\"kms:*\"", policy, StringComparison.Ordinal);

        var replacement = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"Action":"kms:*","Resource":"*"}]}
            """;
        await _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.Arn, PolicyName = "default", Policy = replacement });
        Assert.Equal(replacement, (await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.Arn })).Policy);
    }

    [Fact]
    public async Task Encrypt_and_Decrypt_round_trip_with_and_without_the_key_id()
    {
        var key = await NewKeyAsync();
        var plaintext = Encoding.UTF8.GetBytes("confidential model weights key");
        var context = new Dictionary<string, string> { ["purpose"] = "test", ["tenant"] = "a" };
        var encrypted = await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream(plaintext), EncryptionContext = context });
        Assert.Equal(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT, encrypted.EncryptionAlgorithm);
        Assert.DoesNotContain(Convert.ToBase64String(plaintext), Convert.ToBase64String(encrypted.CiphertextBlob.ToArray()), StringComparison.Ordinal);

        var reordered = new Dictionary<string, string> { ["tenant"] = "a", ["purpose"] = "test" };
        var decrypted = await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypted.CiphertextBlob, EncryptionContext = reordered });
        Assert.Equal(plaintext, decrypted.Plaintext.ToArray());
        Assert.Equal(key.Arn, decrypted.KeyId);
        Assert.Null(decrypted.CiphertextForRecipient);
    }

    [Fact]
    public async Task ReEncrypt_moves_a_ciphertext_to_another_key_and_context()
    {
        var source = await NewKeyAsync();
        var destination = await NewKeyAsync();
        var encrypted = await _kms.EncryptAsync(new EncryptRequest
        {
            KeyId = source.KeyId,
            Plaintext = new MemoryStream([9, 8, 7]),
            EncryptionContext = new() { ["v"] = "1" },
        });

        var moved = await _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = encrypted.CiphertextBlob,
            SourceEncryptionContext = new() { ["v"] = "1" },
            DestinationKeyId = destination.KeyId,
            DestinationEncryptionContext = new() { ["v"] = "2" },
        });
        Assert.Equal(source.Arn, moved.SourceKeyId);
        Assert.Equal(destination.Arn, moved.KeyId);

        var decrypted = await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = moved.CiphertextBlob, EncryptionContext = new() { ["v"] = "2" } });
        Assert.Equal([9, 8, 7], decrypted.Plaintext.ToArray());
        Assert.Equal(destination.Arn, decrypted.KeyId);
    }

    [Fact]
    public async Task GenerateDataKey_returns_a_plaintext_key_and_its_ciphertext()
    {
        var key = await NewKeyAsync();
        var context = new Dictionary<string, string> { ["file"] = "model.onnx" };
        var byKeySpec = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = context });
        Assert.Equal(32, byKeySpec.Plaintext.Length);
        Assert.Equal(key.Arn, byKeySpec.KeyId);
        var opened = await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = byKeySpec.CiphertextBlob, EncryptionContext = context });
        Assert.Equal(byKeySpec.Plaintext.ToArray(), opened.Plaintext.ToArray());

        var aes128 = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_128 });
        Assert.Equal(16, aes128.Plaintext.Length);
        var byBytes = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, NumberOfBytes = 64 });
        Assert.Equal(64, byBytes.Plaintext.Length);
    }

    [Fact]
    public async Task GenerateDataKeyWithoutPlaintext_returns_only_the_ciphertext()
    {
        var key = await NewKeyAsync();
        var response = await _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 });
        Assert.Equal(key.Arn, response.KeyId);
        using var raw = new RawKmsClient(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);
        var (status, _, _, body) = await raw.SendAsync("TrentService.GenerateDataKeyWithoutPlaintext", $$"""{"KeyId":"{{key.KeyId}}","NumberOfBytes":16}""");
        Assert.Equal(200, status);
        Assert.Contains("\"CiphertextBlob\"", body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"Plaintext\"", body, StringComparison.Ordinal);
        var opened = await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = response.CiphertextBlob });
        Assert.Equal(32, opened.Plaintext.Length);
    }

    [Fact]
    public async Task GenerateRandom_returns_fresh_bytes_of_the_requested_length()
    {
        var a = (await _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 32 })).Plaintext.ToArray();
        var b = (await _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 32 })).Plaintext.ToArray();
        Assert.Equal(32, a.Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task DisableKey_and_EnableKey_switch_cryptographic_use()
    {
        var key = await NewKeyAsync();
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        var disabled = (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata;
        Assert.Equal(KeyState.Disabled, disabled.KeyState);
        Assert.False(disabled.Enabled);
        await Assert.ThrowsAsync<DisabledException>(() => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) }));

        await _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = key.Arn });
        Assert.Equal(KeyState.Enabled, (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata.KeyState);
        await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) });
    }

    [Fact]
    public async Task ScheduleKeyDeletion_puts_the_key_in_PendingDeletion()
    {
        var key = await NewKeyAsync();
        var encrypted = await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) });
        var scheduled = await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        Assert.Equal(key.Arn, scheduled.KeyId);
        Assert.Equal(KeyState.PendingDeletion, scheduled.KeyState);
        Assert.Equal(7, scheduled.PendingWindowInDays);
        Assert.InRange(scheduled.DeletionDate!.Value.ToUniversalTime(), DateTime.UtcNow.AddDays(7).AddMinutes(-1), DateTime.UtcNow.AddDays(7).AddMinutes(1));

        var described = (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata;
        Assert.Equal(KeyState.PendingDeletion, described.KeyState);
        Assert.Equal(7, described.PendingDeletionWindowInDays);
        await Assert.ThrowsAsync<KMSInvalidStateException>(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypted.CiphertextBlob }));
        await Assert.ThrowsAsync<KMSInvalidStateException>(() => _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = key.KeyId }));
        await Assert.ThrowsAsync<KMSInvalidStateException>(() => _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 }));
    }

    [Fact]
    public async Task Concurrent_requests_are_served_consistently()
    {
        var key = await NewKeyAsync();
        var work = Enumerable.Range(0, 40).Select(async i =>
        {
            var plaintext = BitConverter.GetBytes(i);
            var encrypted = await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream(plaintext) });
            var created = i % 10 == 0 ? (await NewKeyAsync()).KeyId : null;
            var decrypted = await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypted.CiphertextBlob });
            Assert.Equal(plaintext, decrypted.Plaintext.ToArray());
            return created;
        });
        var createdKeys = (await Task.WhenAll(work)).OfType<string>().ToList();

        var all = new List<string>();
        string? marker = null;
        do
        {
            var page = await _kms.ListKeysAsync(new ListKeysRequest { Marker = marker, Limit = 1000 });
            all.AddRange(page.Keys.Select(k => k.KeyId));
            marker = page.Truncated == true ? page.NextMarker : null;
        }
        while (marker is not null);

        Assert.Equal(4, createdKeys.Count);
        Assert.All(createdKeys, id => Assert.Contains(id, all));
    }
}
