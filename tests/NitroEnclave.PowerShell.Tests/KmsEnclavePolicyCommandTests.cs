using System.Diagnostics;
using System.Management.Automation;
using System.Security.Cryptography;
using System.Text.Json;
using NitroEnclave.Tests;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>One local KMS server (Start-LocalKms) for the class, trusting the test attestation root.</summary>
public sealed class LocalKmsFixture : IDisposable
{
    public const string ParentArn = "arn:aws:iam::111122223333:role/Parent";

    // The server belongs to this session and stops when the fixture closes it.
    private readonly ModuleHost.ModuleSession _session = ModuleHost.OpenSession();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kmspolicy-ps-");

    public LocalKmsFixture()
    {
        Attestation = new TestAttestationBuilder { IssuedAt = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(5), Timestamp = DateTimeOffset.UtcNow };
        var rootPath = Path.Combine(_dir.FullName, "root.pem");
        File.WriteAllText(rootPath, Attestation.RootPem());
        var vars = new Dictionary<string, object?> { ["d"] = Path.Combine(_dir.FullName, "data"), ["root"] = rootPath, ["parent"] = ParentArn };
        var result = _session.Run("Start-LocalKms -DataPath $d -TrustedRootPath $root; Add-LocalKmsPrincipal -DataPath $d -Arn $parent", vars).AssertNoErrors();
        var instance = result.Output[0];
        var parent = result.Output[1];
        Endpoint = (Uri)instance.Properties["Endpoint"].Value;
        ProcessId = (int)instance.Properties["ProcessId"].Value;
        AccessKey = (string)instance.Properties["AccessKey"].Value;
        SecretKey = ModuleHost.SecretOf(instance);
        AdminArn = $"arn:aws:iam::{instance.Properties["AccountId"].Value}:user/admin";
        Admin = new RawKmsClient(Endpoint, AccessKey, SecretKey);
        Parent = new RawKmsClient(Endpoint, (string)parent.Properties["AccessKey"].Value, ModuleHost.SecretOf(parent));
    }

    public Uri Endpoint { get; }

    public int ProcessId { get; }

    public string AccessKey { get; }

    public string SecretKey { get; }

    public string AdminArn { get; }

    public RawKmsClient Admin { get; }

    public RawKmsClient Parent { get; }

    public TestAttestationBuilder Attestation { get; }

    public string WorkDirectory => _dir.FullName;

    public void Dispose()
    {
        Admin.Dispose();
        Parent.Dispose();
        Attestation.Dispose();
        _session.Dispose();
        _dir.Delete(recursive: true);
    }
}

/// <summary>Set-KmsEnclavePolicy and Get-KmsEnclavePolicy in the hosted engine against the local KMS.</summary>
public sealed class KmsEnclavePolicyCommandTests(LocalKmsFixture kms) : IClassFixture<LocalKmsFixture>
{
    private const string Aws = "$aws = @{ EndpointUrl = $e; AccessKey = $ak; SecretKey = $sk; Region = 'us-east-1' }; ";

    private ScriptResult Run(string script, params (string Name, object? Value)[] extra)
    {
        var vars = new Dictionary<string, object?> { ["e"] = kms.Endpoint.ToString(), ["ak"] = kms.AccessKey, ["sk"] = kms.SecretKey, ["parent"] = LocalKmsFixture.ParentArn };
        foreach (var (name, value) in extra)
        {
            vars[name] = value;
        }

        return ModuleHost.Run(Aws + script, vars);
    }

    private static async Task<JsonElement> OkAsync(Task<(int Status, string? Type, string? Message, string Body)> call)
    {
        var (status, type, message, body) = await call;
        Assert.True(status == 200, $"{type}: {message}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<string> CreateKeyAsync() =>
        (await OkAsync(kms.Admin.SendAsync("TrentService.CreateKey", "{}"))).GetProperty("KeyMetadata").GetProperty("KeyId").GetString()!;

    private async Task<string> PolicyAsync(string keyId) =>
        (await OkAsync(kms.Admin.SendAsync("TrentService.GetKeyPolicy", $$"""{"KeyId": "{{keyId}}", "PolicyName": "default"}"""))).GetProperty("Policy").GetString()!;

    private string WriteImage(int seed) => TestEifBuilder.Typical(seed: seed).Write(Path.Combine(kms.WorkDirectory, $"image{seed}.eif"));

    private static Dictionary<int, string> Pcrs(PSObject measurements) =>
        new[] { 0, 1, 2 }.ToDictionary(i => i, i => (string)measurements.Properties[$"PCR{i}"].Value);

    /// <summary>An attestation document of an enclave with these PCRs, for a fresh RSA key, as KMS's Recipient takes it.</summary>
    private string RecipientJson(Dictionary<int, string> pcrs)
    {
        using var rsa = RSA.Create(2048);
        foreach (var (index, value) in pcrs)
        {
            kms.Attestation.Pcrs[index] = Convert.FromHexString(value);
        }

        kms.Attestation.PublicKey = rsa.ExportSubjectPublicKeyInfo();
        var document = Convert.ToBase64String(kms.Attestation.Build());
        return $$""", "Recipient": {"AttestationDocument": "{{document}}", "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}""";
    }

    private async Task<string> EncryptAsync(string keyId) =>
        (await OkAsync(kms.Parent.SendAsync("TrentService.Encrypt", $$"""{"KeyId": "{{keyId}}", "Plaintext": "c2VjcmV0"}"""))).GetProperty("CiphertextBlob").GetString()!;

    private Task<(int Status, string? Type, string? Message, string Body)> DecryptAsync(string blob, string recipient = "") =>
        kms.Parent.SendAsync("TrentService.Decrypt", $$"""{"CiphertextBlob": "{{blob}}"{{recipient}}}""");

    [Fact]
    public async Task After_Set_with_the_enclave_PCRs_the_enclave_decrypts_and_the_parent_is_denied_and_with_other_PCRs_both_are_denied()
    {
        var keyId = await CreateKeyAsync();
        var blob = await EncryptAsync(keyId);
        var measured = Assert.Single(ModuleHost.Run("Get-EnclavePcr -Path $p", new Dictionary<string, object?> { ["p"] = WriteImage(1) }).AssertNoErrors().Output);
        var enclave = RecipientJson(Pcrs(measured));

        var set = Run("Get-EnclavePcr -Path $p | Set-KmsEnclavePolicy -KeyId $k -Principal $parent @aws -Confirm:$false -PassThru", ("p", WriteImage(1)), ("k", keyId)).AssertNoErrors();

        var policy = Assert.Single(set.Output);
        Assert.Equal($"arn:aws:kms:us-east-1:111122223333:key/{keyId}", policy.Properties["KeyArn"].Value);
        Assert.Equal(await PolicyAsync(keyId), policy.Properties["Policy"].Value);
        var allowed = await DecryptAsync(blob, enclave);
        Assert.True(allowed.Status == 200, allowed.Message);
        Assert.Contains("\"CiphertextForRecipient\"", allowed.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"Plaintext\"", allowed.Body, StringComparison.Ordinal);
        var parent = await DecryptAsync(blob);
        Assert.Equal((400, "AccessDeniedException"), (parent.Status, parent.Type));

        Run("Get-EnclavePcr -Path $p | Set-KmsEnclavePolicy -KeyId $k @aws -Confirm:$false", ("p", WriteImage(2)), ("k", keyId)).AssertNoErrors();

        Assert.Equal((400, "AccessDeniedException"), ((await DecryptAsync(blob, enclave)).Status, (await DecryptAsync(blob, enclave)).Type));
        Assert.Equal((400, "AccessDeniedException"), ((await DecryptAsync(blob)).Status, (await DecryptAsync(blob)).Type));
    }

    [Fact]
    public async Task An_enclave_matching_PCR0_but_not_PCR1_is_denied()
    {
        var keyId = await CreateKeyAsync();
        var blob = await EncryptAsync(keyId);
        var measured = Assert.Single(ModuleHost.Run("Get-EnclavePcr -Path $p", new Dictionary<string, object?> { ["p"] = WriteImage(3) }).AssertNoErrors().Output);
        var pcrs = Pcrs(measured);
        Run("Get-EnclavePcr -Path $p | Set-KmsEnclavePolicy -KeyId $k -Principal $parent @aws -Confirm:$false", ("p", WriteImage(3)), ("k", keyId)).AssertNoErrors();
        Assert.Equal(200, (await DecryptAsync(blob, RecipientJson(pcrs))).Status);

        pcrs[1] = new string('e', 96);
        var partial = await DecryptAsync(blob, RecipientJson(pcrs));

        Assert.Equal((400, "AccessDeniedException"), (partial.Status, partial.Type));
    }

    [Fact]
    public async Task WhatIf_shows_the_diff_and_writes_nothing_and_a_second_run_says_nothing_changes()
    {
        var keyId = await CreateKeyAsync();
        var original = await PolicyAsync(keyId);
        var pcr0 = new string('a', 96);

        var whatIf = Run("Set-KmsEnclavePolicy -KeyId $k -Pcr0 $p0 -Principal $parent @aws -WhatIf", ("k", keyId), ("p0", pcr0)).AssertNoErrors();

        Assert.Equal(original, await PolicyAsync(keyId));
        Assert.Contains($"What if: Change the policy of key 'arn:aws:kms:us-east-1:111122223333:key/{keyId}' (Added)", whatIf.FormattedText, StringComparison.Ordinal);
        Assert.Contains("\"Sid\" : \"NitroEnclaveAllowAttestedDecrypt\",", whatIf.FormattedText, StringComparison.Ordinal);
        Assert.Contains($"\"kms:RecipientAttestation:PCR0\" : \"{pcr0}\"", whatIf.FormattedText, StringComparison.Ordinal);
        Assert.DoesNotContain("\n-", whatIf.FormattedText, StringComparison.Ordinal);

        Run("Set-KmsEnclavePolicy -KeyId $k -Pcr0 $p0 -Principal $parent @aws -Confirm:$false", ("k", keyId), ("p0", pcr0.ToUpperInvariant())).AssertNoErrors();
        var first = await PolicyAsync(keyId);
        Assert.NotEqual(original, first);
        Assert.StartsWith(original[..original.LastIndexOf('}', original.LastIndexOf(']'))], first, StringComparison.Ordinal);

        var again = Run("Set-KmsEnclavePolicy -KeyId $k -Pcr0 $p0 @aws -Confirm:$false", ("k", keyId), ("p0", pcr0)).AssertNoErrors();

        Assert.Equal(first, await PolicyAsync(keyId));
        var said = Assert.Single(again.Information);
        Assert.Contains("NoChange", said.Tags);
        Assert.Contains("already holds these enclave statements; nothing to change", said.MessageData.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("What if", again.FormattedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_lists_the_conditions_through_an_alias_and_Remove_restores_the_original_policy()
    {
        var keyId = await CreateKeyAsync();
        await OkAsync(kms.Admin.SendAsync("TrentService.CreateAlias", $$"""{"AliasName": "alias/policy-test-{{keyId[..8]}}", "TargetKeyId": "{{keyId}}"}"""));
        var alias = $"alias/policy-test-{keyId[..8]}";
        var original = await PolicyAsync(keyId);
        Run("Set-KmsEnclavePolicy -KeyId $k -Pcr0 $p0 -Pcr8 $p8 -Principal $parent -IncludeGenerateDataKey @aws -Confirm:$false",
            ("k", alias), ("p0", new string('a', 96)), ("p8", new string('8', 96))).AssertNoErrors();

        var got = Run("Get-KmsEnclavePolicy -KeyId $k @aws", ("k", alias)).AssertNoErrors();

        var policy = Assert.Single(got.Output);
        Assert.Equal(keyId, policy.Properties["KeyId"].Value);
        Assert.Equal("default", policy.Properties["PolicyName"].Value);
        Assert.Equal(true, policy.Properties["HasEnclaveStatements"].Value);
        var conditions = ((System.Collections.IEnumerable)policy.Properties["Conditions"].Value).Cast<object>().Select(PSObject.AsPSObject).ToList();
        Assert.Equal(6, conditions.Count);
        var allowPcr8 = Assert.Single(conditions, c => (string)c.Properties["Effect"].Value == "Allow" && (string)c.Properties["ConditionKey"].Value == "kms:RecipientAttestation:PCR8");
        Assert.Equal("StringEqualsIgnoreCase", allowPcr8.Properties["Operator"].Value);
        Assert.Equal(new[] { new string('8', 96) }, ((IEnumerable<string>)allowPcr8.Properties["Values"].Value).ToArray());
        Assert.Equal(new[] { LocalKmsFixture.ParentArn }, ((IEnumerable<string>)allowPcr8.Properties["Principals"].Value).ToArray());
        Assert.Equal(new[] { "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateRandom" }, ((IEnumerable<string>)allowPcr8.Properties["Actions"].Value).ToArray());
        // The view: each pinned measurement whole on its own line, one line a statement.
        var text = System.Text.RegularExpressions.Regex.Replace(got.FormattedText, "\u001b\\[[0-9;]*m", string.Empty);
        Assert.Matches("PCR8 +: " + new string('8', 96), text);
        Assert.Contains("Deny NitroEnclaveDenyUnattestedDecryptPCR8: PCR8 (StringNotEqualsIgnoreCase)", text, StringComparison.Ordinal);

        var removed = Run("Set-KmsEnclavePolicy -KeyId $k -Remove @aws -Confirm:$false -PassThru", ("k", keyId)).AssertNoErrors();

        Assert.Equal(original, await PolicyAsync(keyId));
        Assert.Equal(false, Assert.Single(removed.Output).Properties["HasEnclaveStatements"].Value);
        var nothing = Run("Set-KmsEnclavePolicy -KeyId $k -Remove @aws -Confirm:$false", ("k", keyId)).AssertNoErrors();
        Assert.Contains("holds no enclave statements; nothing to change", Assert.Single(nothing.Information).MessageData.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_change_that_locks_the_administrator_out_is_refused_unless_BypassPolicyLockoutSafetyCheck()
    {
        var keyId = await CreateKeyAsync();
        // The administrator's only grant sits in a statement carrying the project's Sid, so -Remove would take it away.
        var policy = $$"""
            {"Version": "2012-10-17", "Statement": [
              {"Sid": "NitroEnclaveAllowAttestedDecrypt", "Effect": "Allow", "Principal": {"AWS": "{{kms.AdminArn}}"}, "Action": "kms:*", "Resource": "*"},
              {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": "{{LocalKmsFixture.ParentArn}}"}, "Action": "kms:Encrypt", "Resource": "*"}
            ]}
            """;
        var put = JsonSerializer.Serialize(new Dictionary<string, string> { ["KeyId"] = keyId, ["PolicyName"] = "default", ["Policy"] = policy });
        await OkAsync(kms.Admin.SendAsync("TrentService.PutKeyPolicy", put));

        var refused = Run("Set-KmsEnclavePolicy -KeyId $k -Remove @aws -Confirm:$false", ("k", keyId));

        Assert.Equal(["KeyPolicyLockout"], refused.ErrorIds);
        Assert.Contains(kms.AdminArn, refused.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Equal($"arn:aws:kms:us-east-1:111122223333:key/{keyId}", refused.Errors[0].TargetObject);
        Assert.Equal(policy, await PolicyAsync(keyId));

        Assert.Equal(["KeyPolicyLockout"], Run("Set-KmsEnclavePolicy -KeyId $k -Remove -Force @aws", ("k", keyId)).ErrorIds);

        var bypassed = Run("Set-KmsEnclavePolicy -KeyId $k -Remove -BypassPolicyLockoutSafetyCheck @aws -Confirm:$false", ("k", keyId));

        Assert.Empty(bypassed.Errors);
        Assert.Contains(bypassed.Warnings, w => w.Message.Contains("because of -BypassPolicyLockoutSafetyCheck", StringComparison.Ordinal));
        Assert.Equal(["KmsAccessDenied"], Run("Get-KmsEnclavePolicy -KeyId $k @aws", ("k", keyId)).ErrorIds);
    }

    [Theory]
    [InlineData("-Pcr0 'abc'", "EnclaveMeasurementInvalid")]
    [InlineData("-Pcr0 ('0' * 96)", "EnclaveMeasurementAllZero")]
    [InlineData("-Principal 'someone'", "EnclaveMeasurementMissing")]
    [InlineData("-Pcr0 ('a' * 96) -ImageSha384 ('b' * 96)", "EnclaveImageSha384Mismatch")]
    [InlineData("-Pcr0 ('a' * 96) -Principal 'role/Enclave'", "KeyPolicyPrincipalInvalid")]
    public async Task Invalid_values_are_refused_with_their_error_id_and_nothing_is_written(string arguments, string errorId)
    {
        var keyId = await CreateKeyAsync();
        var original = await PolicyAsync(keyId);

        var result = Run($"Set-KmsEnclavePolicy -KeyId $k {arguments} @aws -Confirm:$false", ("k", keyId));

        Assert.Equal([errorId], result.ErrorIds);
        Assert.Equal(original, await PolicyAsync(keyId));
    }

    [Fact]
    public void KMS_failures_have_their_own_error_ids()
    {
        var missing = Run("Get-KmsEnclavePolicy -KeyId $k @aws", ("k", Guid.NewGuid().ToString()));
        var denied = ModuleHost.Run("Get-KmsEnclavePolicy -KeyId 'alias/x' -EndpointUrl $e -AccessKey $ak -SecretKey 'wrong' -Region us-east-1",
            new Dictionary<string, object?> { ["e"] = kms.Endpoint.ToString(), ["ak"] = kms.AccessKey });

        Assert.Equal(["KmsKeyNotFound"], missing.ErrorIds);
        // A wrong secret is an authentication failure, not a policy denial.
        Assert.Equal(["AwsSignatureInvalid"], denied.ErrorIds);
        Assert.DoesNotContain("wrong", denied.Errors[0].Exception.Message, StringComparison.Ordinal);
    }
}
