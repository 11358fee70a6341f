using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>The data path: everything survives a restart, and no key material or secret is on disk in plain text.</summary>
public sealed class PersistenceTests : IDisposable
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("localkms-persist-");

    public void Dispose() => _data.Delete(recursive: true);

    [Fact]
    public async Task A_restart_keeps_keys_aliases_policies_states_principals_and_admin_credentials()
    {
        string keyId, adminKey, adminSecret;
        byte[] blob, dataKeyPlaintext;
        var policy = """{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}]}""";
        await using (var first = await LocalKmsHost.StartAsync(_data.FullName))
        {
            adminKey = first.Server.AdminAccessKeyId;
            adminSecret = first.Server.AdminSecretAccessKey;
            using var kms = first.AdminClient();
            keyId = (await kms.CreateKeyAsync(new CreateKeyRequest { Description = "kept", Policy = policy })).KeyMetadata.KeyId;
            var disabled = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
            await kms.DisableKeyAsync(new DisableKeyRequest { KeyId = disabled });
            await kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/kept", TargetKeyId = keyId });
            blob = (await kms.EncryptAsync(new EncryptRequest { KeyId = "alias/kept", Plaintext = new MemoryStream(Encoding.UTF8.GetBytes("survives")) })).CiphertextBlob.ToArray();
            var dataKey = await kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = keyId, KeySpec = DataKeySpec.AES_256 });
            dataKeyPlaintext = dataKey.Plaintext.ToArray();
            blob = [.. blob];

            var files = string.Join('\n', Directory.EnumerateFiles(_data.FullName).Select(f => Convert.ToHexString(File.ReadAllBytes(f))));
            Assert.DoesNotContain(Convert.ToHexString(dataKeyPlaintext), files, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(Encoding.UTF8.GetBytes(adminSecret)), string.Join('\n', new[] { "keys.json", "principals.json" }.Select(f => Convert.ToHexString(File.ReadAllBytes(Path.Combine(_data.FullName, f))))), StringComparison.Ordinal);
        }

        await using var second = await LocalKmsHost.StartAsync(_data.FullName);
        Assert.Equal(adminKey, second.Server.AdminAccessKeyId);
        Assert.Equal(adminSecret, second.Server.AdminSecretAccessKey);
        using var again = second.AdminClient();
        var described = (await again.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/kept" })).KeyMetadata;
        Assert.Equal(keyId, described.KeyId);
        Assert.Equal("kept", described.Description);
        Assert.Equal(policy, (await again.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = keyId })).Policy);
        Assert.Equal("survives", Encoding.UTF8.GetString((await again.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(blob) })).Plaintext.ToArray()));
        var keys = (await again.ListKeysAsync(new ListKeysRequest())).Keys;
        Assert.Equal(2, keys.Count);
        var states = await Task.WhenAll(keys.Select(async k => (await again.DescribeKeyAsync(new DescribeKeyRequest { KeyId = k.KeyId })).KeyMetadata.KeyState.Value));
        Assert.Equal(["Disabled", "Enabled"], states.Order());
    }

    [Fact]
    public async Task Secret_files_are_owner_only_and_no_temporary_files_are_left()
    {
        await using (var host = await LocalKmsHost.StartAsync(_data.FullName))
        {
            using var kms = host.AdminClient();
            await kms.CreateKeyAsync(new CreateKeyRequest());
        }

        Assert.Equal(["admin.credentials", "keys.json", "master.key", "principals.json", "principals.lock"],
            Directory.EnumerateFiles(_data.FullName).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            foreach (var name in new[] { "master.key", "keys.json", "principals.json", "admin.credentials" })
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_data.FullName, name)));
            }
        }
    }

    [Fact]
    public async Task A_principal_added_while_the_server_runs_can_call_at_once()
    {
        await using var host = await LocalKmsHost.StartAsync(_data.FullName);
        var parent = NitroEnclave.LocalKms.Keys.LocalKmsData.OpenPrincipals(_data.FullName).Add("arn:aws:iam::111122223333:role/ParentInstance");
        using var kms = host.Client(parent.AccessKeyId, parent.SecretAccessKey);
        var key = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        Assert.Equal(key.KeyId, (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata.KeyId);
    }

    [Fact]
    public async Task Ensure_reuses_a_principal_s_key_even_one_another_process_added_and_creates_one_only_when_missing()
    {
        await using var host = await LocalKmsHost.StartAsync(_data.FullName);
        const string arn = "arn:aws:iam::111122223333:role/ParentInstance";
        var running = NitroEnclave.LocalKms.Keys.LocalKmsData.OpenPrincipals(_data.FullName);
        var missing = running.Ensure(arn);
        // Another process (another ensure-principal run) sees the key this one added and does not add its own.
        var again = NitroEnclave.LocalKms.Keys.LocalKmsData.OpenPrincipals(_data.FullName).Ensure(arn);
        Assert.Equal(missing.AccessKeyId, again.AccessKeyId);
        Assert.Equal(missing.SecretAccessKey, again.SecretAccessKey);
        Assert.Equal(missing.AccessKeyId, running.Ensure(arn).AccessKeyId);
        var other = running.Ensure("arn:aws:iam::111122223333:user/data-owner");
        Assert.NotEqual(missing.AccessKeyId, other.AccessKeyId);

        using var kms = host.Client(again.AccessKeyId, again.SecretAccessKey);
        Assert.NotNull((await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId);
        var stored = File.ReadAllText(Path.Combine(_data.FullName, "principals.json"));
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Count(stored, System.Text.RegularExpressions.Regex.Escape(arn)));
    }

    [Fact]
    public async Task A_damaged_master_key_stops_the_start_instead_of_serving_wrong_keys()
    {
        await using (var host = await LocalKmsHost.StartAsync(_data.FullName))
        {
            using var kms = host.AdminClient();
            await kms.CreateKeyAsync(new CreateKeyRequest());
        }

        File.WriteAllBytes(Path.Combine(_data.FullName, "master.key"), new byte[32]);
        await Assert.ThrowsAsync<InvalidDataException>(() => LocalKmsHost.StartAsync(_data.FullName));
    }
}
