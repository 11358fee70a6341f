using System.Text.Json;
using NitroEnclave.KmsPolicy;

namespace NitroEnclave.Tests.KmsPolicy;

public sealed class EnclavePolicyEditorTests
{
    private const string Account = "111122223333";
    private const string EnclaveRole = "arn:aws:iam::111122223333:role/Enclave";
    private static readonly string A = new('a', 96);
    private static readonly string B = new('b', 96);
    private static readonly string C = new('c', 96);
    private static readonly string D = new('d', 96);

    private static string Data(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "kmspolicy", name));

    private static EnclavePolicySettings Settings(string pcr0, string? pcr1 = null, string? pcr8 = null, bool generate = false, params string[] principals) =>
        new(PinnedMeasurements.Create(pcr0, pcr1, null, pcr8), principals, generate);

    private static List<string> Sids(string policy)
    {
        using var document = JsonDocument.Parse(policy);
        return [.. document.RootElement.GetProperty("Statement").EnumerateArray().Select(s => s.GetProperty("Sid").GetString()!)];
    }

    [Fact]
    public void The_default_KMS_policy_gets_the_statements_appended_in_its_own_layout()
    {
        var original = Data("kms-default.json");

        var edit = EnclavePolicyEditor.Apply(original, Settings(A, B, C.ToUpperInvariant(), generate: true, EnclaveRole));

        Assert.Equal(Data("kms-default.expected.json"), edit.PolicyText);
        Assert.Equal(EnclavePolicyChange.Added, edit.Change);
        Assert.False(edit.Reformatted);
        Assert.All(LineDiff.Changes(original, edit.PolicyText), line => Assert.StartsWith("+", line, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("kms-default.json")]
    [InlineData("console.json")]
    [InlineData("one-line.json")]
    public void Other_statements_and_the_layout_around_them_stay_byte_for_byte(string file)
    {
        var original = Data(file);

        var added = EnclavePolicyEditor.Apply(original, Settings(A, B, C, principals: EnclaveRole)).PolicyText;
        var removed = EnclavePolicyEditor.Remove(added);

        Assert.Equal(original, removed.PolicyText);
        Assert.Equal(EnclavePolicyChange.Removed, removed.Change);
        Assert.StartsWith(original[..original.LastIndexOf('}', original.LastIndexOf(']'))], added, StringComparison.Ordinal);
        Assert.Equal(original.Contains('\n', StringComparison.Ordinal), added.Contains('\n', StringComparison.Ordinal));
    }

    [Fact]
    public void The_console_layout_is_followed_for_new_statements()
    {
        var edited = EnclavePolicyEditor.Apply(Data("console.json"), Settings(A, principals: EnclaveRole)).PolicyText;

        Assert.Contains("        },\n        {\n            \"Sid\": \"NitroEnclaveAllowAttestedDecrypt\",\n            \"Effect\": \"Allow\",", edited, StringComparison.Ordinal);
        Assert.EndsWith("            }\n        }\n    ]\n}\n", edited, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_pinned_measurement_gets_its_own_deny_so_one_match_cannot_open_the_key()
    {
        var edited = EnclavePolicyEditor.Apply(Data("kms-default.json"), Settings(A, B, C, principals: EnclaveRole)).PolicyText;

        Assert.Equal(
            ["Enable IAM User Permissions", "NitroEnclaveAllowAttestedDecrypt", "NitroEnclaveDenyUnattestedDecryptImageSha384",
             "NitroEnclaveDenyUnattestedDecryptPCR0", "NitroEnclaveDenyUnattestedDecryptPCR1", "NitroEnclaveDenyUnattestedDecryptPCR8"],
            Sids(edited));
        var conditions = EnclavePolicyReader.Conditions(edited);
        var denies = conditions.Where(c => c.Effect == "Deny").ToList();
        Assert.Equal(4, denies.Count);
        Assert.All(denies, d =>
        {
            Assert.Equal(["*"], d.Principals);
            Assert.Equal(["kms:Decrypt", "kms:ReEncrypt*"], d.Actions);
            Assert.Equal("StringNotEqualsIgnoreCase", d.Operator);
            Assert.True(d.IsProjectStatement);
        });
        Assert.Equal(denies.Select(d => d.ConditionKey), denies.Select(d => "kms:RecipientAttestation:" + d.Sid!["NitroEnclaveDenyUnattestedDecrypt".Length..]));
        var allows = conditions.Where(c => c.Effect == "Allow").ToList();
        Assert.Equal(
            [("kms:RecipientAttestation:ImageSha384", A), ("kms:RecipientAttestation:PCR0", A), ("kms:RecipientAttestation:PCR1", B), ("kms:RecipientAttestation:PCR8", C)],
            allows.Select(c => (c.ConditionKey, Assert.Single(c.Values))));
        Assert.All(allows, c => Assert.Equal([EnclaveRole], c.Principals));
        Assert.All(allows, c => Assert.Equal(["kms:Decrypt"], c.Actions));
    }

    [Fact]
    public void Running_twice_changes_nothing_the_second_time()
    {
        var settings = Settings(A, B, C, generate: true, EnclaveRole, "arn:aws:iam::111122223333:role/Other");
        var first = EnclavePolicyEditor.Apply(Data("console.json"), settings);

        var second = EnclavePolicyEditor.Apply(first.PolicyText, settings);

        Assert.Equal(EnclavePolicyChange.NoChange, second.Change);
        Assert.False(second.IsChanged);
        Assert.Same(first.PolicyText, second.PolicyText);
        Assert.Equal(string.Empty, second.Diff);
    }

    [Fact]
    public void The_same_statements_in_another_layout_and_order_are_no_change()
    {
        var settings = Settings(A, B, principals: [EnclaveRole, "arn:aws:iam::111122223333:role/Other"]);
        var applied = EnclavePolicyEditor.Apply(Data("kms-default.json"), settings).PolicyText;
        using var document = JsonDocument.Parse(applied);
        var statements = document.RootElement.GetProperty("Statement").EnumerateArray().Reverse().Select(s => s.GetRawText().Replace("\n", " ", StringComparison.Ordinal));
        var reordered = "{\"Version\":\"2012-10-17\",\"Statement\":[" + string.Join(",", statements) + "]}";
        var swappedPrincipals = reordered.Replace($"\"{EnclaveRole}\", \"arn:aws:iam::111122223333:role/Other\"", $"\"arn:aws:iam::111122223333:role/Other\", \"{EnclaveRole}\"", StringComparison.Ordinal);
        Assert.NotEqual(reordered, swappedPrincipals);

        Assert.Equal(EnclavePolicyChange.NoChange, EnclavePolicyEditor.Apply(swappedPrincipals, settings).Change);
    }

    [Fact]
    public void New_measurements_replace_the_project_statements_and_keep_the_others()
    {
        var original = Data("console.json");
        var first = EnclavePolicyEditor.Apply(original, Settings(A, B, C, principals: EnclaveRole)).PolicyText;

        var second = EnclavePolicyEditor.Apply(first, Settings(D, B, principals: EnclaveRole));

        Assert.Equal(EnclavePolicyChange.Replaced, second.Change);
        Assert.DoesNotContain(A, second.PolicyText, StringComparison.Ordinal);
        Assert.DoesNotContain(C, second.PolicyText, StringComparison.Ordinal);
        Assert.Contains(D, second.PolicyText, StringComparison.Ordinal);
        Assert.DoesNotContain("NitroEnclaveDenyUnattestedDecryptPCR8", second.PolicyText, StringComparison.Ordinal);
        Assert.Equal(original, EnclavePolicyEditor.Remove(second.PolicyText).PolicyText);
        Assert.Contains(second.Diff.Split('\n'), line => line.StartsWith('-') && line.Contains(A, StringComparison.Ordinal));
        Assert.Contains(second.Diff.Split('\n'), line => line.StartsWith('+') && line.Contains(D, StringComparison.Ordinal));
    }

    [Fact]
    public void Without_principals_the_existing_allow_keeps_its_principals()
    {
        var first = EnclavePolicyEditor.Apply(Data("kms-default.json"), Settings(A, principals: EnclaveRole)).PolicyText;

        var second = EnclavePolicyEditor.Apply(first, Settings(B)).PolicyText;

        var allows = EnclavePolicyReader.Conditions(second).Where(c => c.Effect == "Allow").ToList();
        Assert.Equal(2, allows.Count);
        Assert.All(allows, allow => Assert.Equal([EnclaveRole], allow.Principals));
        Assert.All(allows, allow => Assert.Equal([B], allow.Values));
    }

    [Fact]
    public void Without_principals_and_no_allow_yet_only_the_denies_are_written()
    {
        var edited = EnclavePolicyEditor.Apply(Data("kms-default.json"), Settings(A)).PolicyText;

        Assert.Equal(["Enable IAM User Permissions", "NitroEnclaveDenyUnattestedDecryptImageSha384", "NitroEnclaveDenyUnattestedDecryptPCR0"], Sids(edited));
    }

    [Fact]
    public void Removing_from_a_policy_without_project_statements_is_no_change()
    {
        var original = Data("console.json");

        var edit = EnclavePolicyEditor.Remove(original);

        Assert.Equal(EnclavePolicyChange.NoChange, edit.Change);
        Assert.Same(original, edit.PolicyText);
    }

    [Fact]
    public void A_single_statement_object_is_rewritten_as_an_array_and_says_so()
    {
        var edit = EnclavePolicyEditor.Apply(Data("single-statement.json"), Settings(A, principals: EnclaveRole));

        Assert.True(edit.Reformatted);
        Assert.Equal(["Root", "NitroEnclaveAllowAttestedDecrypt", "NitroEnclaveDenyUnattestedDecryptImageSha384", "NitroEnclaveDenyUnattestedDecryptPCR0"], Sids(edit.PolicyText));
    }

    [Fact]
    public void A_policy_without_statements_gets_an_array_of_the_project_statements()
    {
        var edit = EnclavePolicyEditor.Apply("{\n  \"Version\": \"2012-10-17\"\n}", Settings(A, principals: EnclaveRole));

        Assert.True(edit.Reformatted);
        Assert.StartsWith("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Sid\": \"NitroEnclaveAllowAttestedDecrypt\",", edit.PolicyText, StringComparison.Ordinal);
        Assert.Equal(3, Sids(edit.PolicyText).Count);
    }

    [Fact]
    public void An_empty_statement_array_is_filled_in_place()
    {
        var edit = EnclavePolicyEditor.Apply("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": []\n}\n", Settings(A));

        Assert.False(edit.Reformatted);
        Assert.StartsWith("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Sid\": \"NitroEnclaveDenyUnattestedDecryptImageSha384\",", edit.PolicyText, StringComparison.Ordinal);
        Assert.EndsWith("    }\n  ]\n}\n", edit.PolicyText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", KeyPolicyErrors.PolicyInvalid)]
    [InlineData("[1, 2]", KeyPolicyErrors.PolicyInvalid)]
    [InlineData("{\"Statement\": \"x\"}", KeyPolicyErrors.PolicyInvalid)]
    [InlineData("{\"Statement\": [], \"Statement\": []}", KeyPolicyErrors.PolicyInvalid)]
    public void Policies_that_are_not_policies_are_refused(string policy, string errorId)
    {
        var exception = Assert.Throws<NitroEnclaveException>(() => EnclavePolicyEditor.Apply(policy, Settings(A)));

        Assert.Equal(errorId, exception.ErrorId);
    }

    [Theory]
    [InlineData("abc", null, KeyPolicyErrors.MeasurementInvalid)]
    [InlineData("a", "b", KeyPolicyErrors.MeasurementInvalid)]
    [InlineData("zz", null, KeyPolicyErrors.MeasurementInvalid)]
    [InlineData("0", null, KeyPolicyErrors.MeasurementAllZero)]
    [InlineData(null, null, KeyPolicyErrors.MeasurementMissing)]
    [InlineData("a", "9", KeyPolicyErrors.ImageSha384Mismatch)]
    public void Measurements_are_validated(string? pcr0Fill, string? imageFill, string errorId)
    {
        static string? Value(string? fill) => fill switch
        {
            null => null,
            "abc" => "abc",
            "zz" => new string('a', 94) + "zz",
            _ => string.Concat(Enumerable.Repeat(fill, 96)),
        };
        var image = imageFill == "b" ? "b" : Value(imageFill);

        var exception = Assert.Throws<NitroEnclaveException>(() => PinnedMeasurements.Create(Value(pcr0Fill), null, null, null, image));

        Assert.Equal(errorId, exception.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, exception.Kind);
    }

    [Fact]
    public void Measurements_are_lowercased_and_image_defaults_to_pcr0()
    {
        var measurements = PinnedMeasurements.Create(" " + A.ToUpperInvariant() + " ", null, B.ToUpperInvariant(), null);

        Assert.Equal(A, measurements.Pcr0);
        Assert.Equal(A, measurements.ImageSha384);
        Assert.Equal(B, measurements.Pcr2);
        Assert.Null(measurements.Pcr1);
        Assert.Equal(["kms:RecipientAttestation:ImageSha384", "kms:RecipientAttestation:PCR0", "kms:RecipientAttestation:PCR2"], measurements.ConditionValues.Select(v => v.Key));
    }

    [Theory]
    [InlineData("arn:aws:iam::111122223333:role/Enclave", true)]
    [InlineData("arn:aws:iam::111122223333:user/path/alice", true)]
    [InlineData("arn:aws:sts::111122223333:assumed-role/Enclave/i-0123", true)]
    [InlineData("arn:aws:iam::111122223333:root", true)]
    [InlineData("111122223333", true)]
    [InlineData("*", false)]
    [InlineData("arn:aws:iam::1111:role/Enclave", false)]
    [InlineData("arn:aws:s3:::bucket", false)]
    [InlineData("role/Enclave", false)]
    public void Principals_are_validated(string principal, bool valid)
    {
        var measurements = PinnedMeasurements.Create(A, null, null, null);
        if (valid)
        {
            Assert.Equal([principal], new EnclavePolicySettings(measurements, [principal]).Principals);
        }
        else
        {
            Assert.Equal(KeyPolicyErrors.PrincipalInvalid, Assert.Throws<NitroEnclaveException>(() => new EnclavePolicySettings(measurements, [principal])).ErrorId);
        }
    }

    [Fact]
    public void The_reader_lists_attestation_conditions_of_any_statement()
    {
        const string policy = """
            {"Statement": [
              {"Sid": "Theirs", "Effect": "Deny", "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:role/X"]}, "Action": "kms:Decrypt", "Resource": "*",
               "Condition": {"StringNotEquals": {"kms:RecipientAttestation:PCR3": ["x", "y"], "kms:EncryptionContext:a": "b"}}},
              {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}
            ]}
            """;

        var condition = Assert.Single(EnclavePolicyReader.Conditions(policy));

        Assert.Equal("Theirs", condition.Sid);
        Assert.Equal("Deny", condition.Effect);
        Assert.Equal(["111122223333", "arn:aws:iam::111122223333:role/X"], condition.Principals);
        Assert.Equal(["kms:Decrypt"], condition.Actions);
        Assert.Equal("kms:RecipientAttestation:PCR3", condition.ConditionKey);
        Assert.Equal("StringNotEquals", condition.Operator);
        Assert.Equal(["x", "y"], condition.Values);
        Assert.False(condition.IsProjectStatement);
    }

    [Fact]
    public void A_result_key_lets_the_enclave_only_generate_and_the_data_owners_only_decrypt()
    {
        const string owner = "arn:aws:iam::111122223333:role/DataOwner";
        const string auditor = "arn:aws:iam::111122223333:user/auditor";
        var settings = EnclavePolicySettings.ForResultKey(PinnedMeasurements.Create(A, B, null, null), [EnclaveRole], [owner, auditor]);

        var edit = EnclavePolicyEditor.Apply(Data("kms-default.json"), settings);

        using var document = JsonDocument.Parse(edit.PolicyText);
        var statements = document.RootElement.GetProperty("Statement").EnumerateArray().ToDictionary(s => s.GetProperty("Sid").GetString()!);
        var allow = statements[EnclavePolicyStatements.ResultAllowSid];
        Assert.Equal("kms:GenerateDataKey", Assert.Single(allow.GetProperty("Action").EnumerateArray()).GetString());
        Assert.Equal(A, allow.GetProperty("Condition").GetProperty("StringEqualsIgnoreCase").GetProperty("kms:RecipientAttestation:PCR0").GetString());
        foreach (var measurement in new[] { "ImageSha384", "PCR0", "PCR1" })
        {
            var deny = statements[EnclavePolicyStatements.ResultDenySidPrefix + measurement];
            Assert.Equal(["kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"], deny.GetProperty("Action").EnumerateArray().Select(a => a.GetString()));
            Assert.Equal("*", deny.GetProperty("Principal").GetString());
        }

        Assert.False(statements[EnclavePolicyStatements.ResultOwnerSid].TryGetProperty("Condition", out _));
        var others = statements[EnclavePolicyStatements.ResultDenyDecryptSid];
        Assert.Equal([owner, auditor], others.GetProperty("Condition").GetProperty("StringNotEquals").GetProperty("aws:PrincipalArn").EnumerateArray().Select(v => v.GetString()));
        Assert.DoesNotContain(statements.Keys, sid => sid == EnclavePolicyStatements.AllowSid || sid.StartsWith(EnclavePolicyStatements.DenySidPrefix, StringComparison.Ordinal));
        Assert.Equal(EnclavePolicyChange.NoChange, EnclavePolicyEditor.Apply(edit.PolicyText, settings).Change);
        Assert.DoesNotContain(EnclavePolicyEditor.Remove(edit.PolicyText).PolicyText, "NitroEnclaveResult", StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("111122223333")]
    [InlineData("arn:aws:sts::111122223333:assumed-role/DataOwner/session")]
    public void A_result_key_needs_data_owners_named_as_aws_PrincipalArn_names_them(string owner)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => EnclavePolicySettings.ForResultKey(PinnedMeasurements.Create(A, null, null, null), [], [owner]));

        Assert.Equal(KeyPolicyErrors.PrincipalInvalid, error.ErrorId);
    }
}
