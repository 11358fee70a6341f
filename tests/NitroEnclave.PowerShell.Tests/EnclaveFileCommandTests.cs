using System.Buffers.Binary;
using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NitroEnclave.Tests;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>
/// One local KMS (Start-LocalKms) for a test class, with a parent-instance principal and three keys: an open one (the
/// default policy), a second open one, and an enclave-style one that everyone outside the enclave may encrypt under
/// but no one here may decrypt.
/// </summary>
public sealed class EnclaveFileKmsFixture : IDisposable
{
    public const string ParentArn = "arn:aws:iam::111122223333:role/Parent";

    // The server belongs to this session and stops when the fixture closes it.
    private readonly ModuleHost.ModuleSession _session = ModuleHost.OpenSession();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclavefile-kms-");

    public EnclaveFileKmsFixture()
    {
        var vars = new Dictionary<string, object?> { ["d"] = Path.Combine(_dir.FullName, "data"), ["parent"] = ParentArn };
        var result = _session.Run("Start-LocalKms -DataPath $d; Add-LocalKmsPrincipal -DataPath $d -Arn $parent", vars).AssertNoErrors();
        var instance = result.Output[0];
        var parent = result.Output[1];
        Endpoint = (Uri)instance.Properties["Endpoint"].Value;
        ProcessId = (int)instance.Properties["ProcessId"].Value;
        AccessKey = (string)instance.Properties["AccessKey"].Value;
        SecretKey = ModuleHost.SecretOf(instance);
        ParentAccessKey = (string)parent.Properties["AccessKey"].Value;
        ParentSecretKey = ModuleHost.SecretOf(parent);
        var adminArn = $"arn:aws:iam::{instance.Properties["AccountId"].Value}:user/admin";
        Admin = new RawKmsClient(Endpoint, AccessKey, SecretKey);

        KeyArn = CreateKey(null);
        OtherKeyArn = CreateKey(null);
        Ok(Admin.SendAsync("TrentService.CreateAlias", $$"""{"AliasName": "alias/files", "TargetKeyId": "{{KeyArn}}"}"""));
        DeniedKeyArn = CreateKey($$"""
            {"Version": "2012-10-17", "Statement": [
              {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "{{adminArn}}"}, "Action": "kms:*", "Resource": "*"},
              {"Sid": "ParentEncrypts", "Effect": "Allow", "Principal": {"AWS": "{{ParentArn}}"}, "Action": "kms:GenerateDataKey", "Resource": "*"},
              {"Sid": "OnlyTheEnclaveDecrypts", "Effect": "Deny", "Principal": {"AWS": ["{{adminArn}}", "{{ParentArn}}"]}, "Action": "kms:Decrypt", "Resource": "*"}
            ]}
            """);
    }

    public Uri Endpoint { get; }

    public int ProcessId { get; }

    public string AccessKey { get; }

    public string SecretKey { get; }

    public string ParentAccessKey { get; }

    public string ParentSecretKey { get; }

    public RawKmsClient Admin { get; }

    public string KeyArn { get; }

    public string OtherKeyArn { get; }

    public string DeniedKeyArn { get; }

    public static JsonElement Ok(Task<(int Status, string? Type, string? Message, string Body)> call)
    {
        var (status, type, message, body) = call.GetAwaiter().GetResult();
        Assert.True(status == 200, $"{type}: {message}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public void Dispose()
    {
        Admin.Dispose();
        _session.Dispose();
        _dir.Delete(recursive: true);
    }

    private string CreateKey(string? policy)
    {
        var body = policy is null ? "{}" : JsonSerializer.Serialize(new { Policy = policy });
        return Ok(Admin.SendAsync("TrentService.CreateKey", body)).GetProperty("KeyMetadata").GetProperty("Arn").GetString()!;
    }
}

/// <summary>Protect-EnclaveFile and Unprotect-EnclaveFile in the hosted engine against the local KMS.</summary>
public sealed class EnclaveFileCommandTests(EnclaveFileKmsFixture kms) : IClassFixture<EnclaveFileKmsFixture>, IDisposable
{
    private const string Aws = "$aws = @{ EndpointUrl = $e; AccessKey = $ak; SecretKey = $sk; Region = 'us-east-1' }; ";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclavefile-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Dir => _dir.FullName;

    private ScriptResult Run(string script, params (string Name, object? Value)[] extra)
    {
        var vars = new Dictionary<string, object?>
        {
            ["e"] = kms.Endpoint.ToString(), ["ak"] = kms.AccessKey, ["sk"] = kms.SecretKey,
            ["key"] = kms.KeyArn, ["denied"] = kms.DeniedKeyArn, ["dir"] = Dir,
        };
        foreach (var (name, value) in extra)
        {
            vars[name] = value;
        }

        return ModuleHost.Run(Aws + script, vars);
    }

    private string WriteFile(string name, byte[] content)
    {
        var path = Path.Combine(Dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static byte[] Bytes(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static T Prop<T>(PSObject item, string name) => (T)item.Properties[name].Value;

    /// <summary>Every file under the test folder, relative, sorted: catches stray temporary files as well as outputs.</summary>
    private string[] Files() =>
        [.. Directory.EnumerateFiles(Dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Dir, f)).Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData(false, 65536, 200_000)]
    [InlineData(false, 1, 37)]
    [InlineData(true, 1, 37)]
    [InlineData(true, 4096, 4096)]
    [InlineData(false, 4096, 4096)]
    [InlineData(false, 65536, 0)]
    [InlineData(true, 65536, 0)]
    public void Files_round_trip_with_both_suites_and_any_frame_size(bool noSignature, int frameSize, int length)
    {
        var plaintext = Bytes(length);
        var source = WriteFile("data.bin", plaintext);

        var protectedFile = Assert.Single(Run("Protect-EnclaveFile -Path $p -KeyId alias/files -FrameSize $f -NoSignature:$ns @aws",
            ("p", source), ("f", frameSize), ("ns", noSignature)).AssertNoErrors().Output);

        var encrypted = File.ReadAllBytes(source + ".enc");
        var suiteId = noSignature ? 0x0478 : 0x0578;
        Assert.Equal("NitroEnclave.Envelope.ProtectedFile", protectedFile.BaseObject.GetType().FullName);
        Assert.Equal(source, Prop<string>(protectedFile, "Source"));
        Assert.Equal(source + ".enc", Prop<string>(protectedFile, "Destination"));
        Assert.Equal(kms.KeyArn, Prop<string>(protectedFile, "KeyArn"));
        Assert.Equal((ushort)suiteId, PSObject.AsPSObject(Prop<object>(protectedFile, "Suite")).Properties["Id"].Value);
        Assert.Equal((long)length, Prop<long>(protectedFile, "PlaintextBytes"));
        Assert.Equal(encrypted.LongLength, Prop<long>(protectedFile, "CiphertextBytes"));
        Assert.Equal(2, encrypted[0]);
        Assert.Equal(suiteId, BinaryPrimitives.ReadUInt16BigEndian(encrypted.AsSpan(1)));
        if (length >= 16)
        {
            Assert.Equal(-1, encrypted.AsSpan().IndexOf(plaintext.AsSpan(0, 16)));
        }

        var restored = Path.Combine(Dir, "restored.bin");
        var unprotected = Assert.Single(Run("Unprotect-EnclaveFile -LiteralPath $p -Destination $d @aws", ("p", source + ".enc"), ("d", restored)).AssertNoErrors().Output);

        Assert.Equal(plaintext, File.ReadAllBytes(restored));
        Assert.Equal("EncryptionSdkMessage", Prop<object>(unprotected, "Format").ToString());
        Assert.Equal(kms.KeyArn, Prop<string>(unprotected, "KeyArn"));
        Assert.Equal((long)length, Prop<long>(unprotected, "PlaintextBytes"));
        Assert.Equal(encrypted.LongLength, Prop<long>(unprotected, "CiphertextBytes"));
        Assert.Equal(["data.bin", "data.bin.enc", "restored.bin"], Files());
    }

    [Fact]
    public void A_file_of_exactly_one_frame_is_one_final_frame_and_one_byte_more_adds_a_regular_frame()
    {
        // Unsigned messages under the same key and context have headers of equal length, so sizes compare exactly.
        long Size(int length)
        {
            var source = WriteFile($"f{length}.bin", Bytes(length));
            return Prop<long>(Assert.Single(Run("Protect-EnclaveFile $p -KeyId $key -FrameSize 4096 -NoSignature @aws", ("p", source)).AssertNoErrors().Output), "CiphertextBytes");
        }

        var empty = Size(0);
        var oneFrame = Size(4096);
        var oneFrameAndOneByte = Size(4097);

        // Final frame: marker, sequence number, IV, content length, content, tag = 40 bytes + content.
        Assert.Equal(4096, oneFrame - empty);
        // A regular frame of 4096 (sequence number, IV, content, tag = 32 bytes + content) and a final frame of 1 byte.
        Assert.Equal(32 + 4096 + 1, oneFrameAndOneByte - empty);
    }

    [Fact]
    public void A_5_MB_file_round_trips_with_a_byte_progress_bar_that_is_completed()
    {
        var plaintext = Bytes(5_000_000, seed: 5);
        var source = WriteFile("large.bin", plaintext);

        var protect = Run("Protect-EnclaveFile $p -KeyId $key @aws", ("p", source)).AssertNoErrors();
        var unprotect = Run("Unprotect-EnclaveFile $p -Destination $d @aws", ("p", source + ".enc"), ("d", Path.Combine(Dir, "large.out"))).AssertNoErrors();

        Assert.Equal(plaintext, File.ReadAllBytes(Path.Combine(Dir, "large.out")));
        foreach (var (result, verb) in new[] { (protect, "Encrypting"), (unprotect, "Decrypting") })
        {
            var records = result.Progress.Where(p => p.ActivityId == 2).ToList();
            Assert.True(records.Count >= 2, $"{verb}: {records.Count} progress records");
            Assert.Equal($"{verb} {Path.GetFileName(verb == "Encrypting" ? source : source + ".enc")}", records[0].Activity);
            Assert.Equal(ProgressRecordType.Completed, records[^1].RecordType);
            Assert.DoesNotContain(result.Progress, p => p.ActivityId == 1);
        }
    }

    [Fact]
    public void Wildcards_file_objects_and_strings_from_the_pipeline_each_give_one_output_per_file_and_a_completed_file_progress_bar()
    {
        var a = WriteFile("in/a.txt", Encoding.UTF8.GetBytes("alpha"));
        var b = WriteFile("in/b.txt", Encoding.UTF8.GetBytes("bravo"));
        var c = WriteFile("in/c.log", Encoding.UTF8.GetBytes("charlie"));

        var wildcard = Run("Protect-EnclaveFile -Path ($dir + '/in/*.txt') -KeyId $key @aws").AssertNoErrors();
        Assert.Equal([a, b], wildcard.Output.Select(o => Prop<string>(o, "Source")));
        Assert.Equal(["in/a.txt", "in/a.txt.enc", "in/b.txt", "in/b.txt.enc", "in/c.log"], Files());
        var files = wildcard.Progress.Where(p => p.ActivityId == 1).ToList();
        Assert.Equal(["1 of 2: a.txt", "2 of 2: b.txt"], files.Where(p => p.RecordType == ProgressRecordType.Processing).Select(p => p.StatusDescription));
        Assert.Equal(ProgressRecordType.Completed, files[^1].RecordType);

        var piped = Run("[System.IO.FileInfo]::new($c), [System.IO.FileInfo]::new($a) | Protect-EnclaveFile -KeyId $key -Destination ($dir + '/out/') @aws", ("a", a), ("c", c)).AssertNoErrors();
        Assert.Equal([Path.Combine(Dir, "out", "c.log.enc"), Path.Combine(Dir, "out", "a.txt.enc")], piped.Output.Select(o => Prop<string>(o, "Destination")));

        var strings = Run("($dir + '/out/a.txt.enc'), ($dir + '/out/c.log.enc') | Unprotect-EnclaveFile @aws").AssertNoErrors();
        Assert.Equal([Path.Combine(Dir, "out", "a.txt"), Path.Combine(Dir, "out", "c.log")], strings.Output.Select(o => Prop<string>(o, "Destination")));
        Assert.Equal("alpha", File.ReadAllText(Path.Combine(Dir, "out", "a.txt")));
        Assert.Equal("charlie", File.ReadAllText(Path.Combine(Dir, "out", "c.log")));
    }

    [Fact]
    public void Destination_can_be_a_file_or_an_existing_folder_but_several_files_need_a_folder()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));
        var b = WriteFile("b.txt", Encoding.UTF8.GetBytes("bravo"));
        Directory.CreateDirectory(Path.Combine(Dir, "existing"));

        Run("Protect-EnclaveFile $a -KeyId $key -Destination ($dir + '/named.bin') @aws", ("a", a)).AssertNoErrors();
        Run("Protect-EnclaveFile $a -KeyId $key -Destination ($dir + '/existing') @aws", ("a", a)).AssertNoErrors();
        var several = Run("Protect-EnclaveFile $a, $b -KeyId $key -Destination ($dir + '/single.bin') @aws", ("a", a), ("b", b));

        Assert.Equal(["DestinationNotFolder"], several.ErrorIds);
        Assert.Empty(several.Output);
        Assert.Equal(["a.txt", "b.txt", "existing/a.txt.enc", "named.bin"], Files());

        // A file without .enc decrypts beside itself as <name>.decrypted rather than onto itself.
        Run("Unprotect-EnclaveFile ($dir + '/named.bin') @aws").AssertNoErrors();
        Assert.Equal("alpha", File.ReadAllText(Path.Combine(Dir, "named.bin.decrypted")));
        var onto = Run("Unprotect-EnclaveFile ($dir + '/named.bin') -Destination ($dir + '/named.bin') -Force @aws");
        Assert.Equal(["DestinationIsSource"], onto.ErrorIds);
    }

    [Fact]
    public void An_existing_destination_is_kept_without_Force_and_replaced_with_it_and_the_pipeline_goes_on()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));
        var b = WriteFile("b.txt", Encoding.UTF8.GetBytes("bravo"));
        File.WriteAllText(a + ".enc", "keep me");

        var refused = Run("Protect-EnclaveFile $a, $b -KeyId $key @aws", ("a", a), ("b", b));

        Assert.Equal(["DestinationExists"], refused.ErrorIds);
        Assert.Equal(a, refused.Errors[0].TargetObject);
        Assert.Equal("keep me", File.ReadAllText(a + ".enc"));
        Assert.Equal(b + ".enc", Prop<string>(Assert.Single(refused.Output), "Destination"));

        Run("Protect-EnclaveFile $a -KeyId $key -Force @aws", ("a", a)).AssertNoErrors();
        File.WriteAllText(a, "changed");
        var decryptRefused = Run("Unprotect-EnclaveFile ($a + '.enc') @aws", ("a", a));
        Assert.Equal(["DestinationExists"], decryptRefused.ErrorIds);
        Assert.Equal("changed", File.ReadAllText(a));

        Run("Unprotect-EnclaveFile ($a + '.enc') -Force @aws", ("a", a)).AssertNoErrors();
        Assert.Equal("alpha", File.ReadAllText(a));
        Assert.Equal(["a.txt", "a.txt.enc", "b.txt", "b.txt.enc"], Files());
    }

    [Fact]
    public void WhatIf_writes_nothing_and_says_what_it_would_do()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));

        var result = Run("Protect-EnclaveFile $a -KeyId $key -Destination ($dir + '/new/') -WhatIf @aws", ("a", a)).AssertNoErrors();

        Assert.Empty(result.Output);
        Assert.Contains($"Encrypt to '{Path.Combine(Dir, "new", "a.txt.enc")}'", result.FormattedText, StringComparison.Ordinal);
        Assert.Equal(["a.txt"], Files());
        Assert.False(Directory.Exists(Path.Combine(Dir, "new")));
    }

    [Fact]
    public void The_encryption_context_round_trips_and_a_mismatch_or_reserved_key_is_refused()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));

        var protect = Assert.Single(Run("Protect-EnclaveFile $a -KeyId $key -EncryptionContext @{ project = 'survey'; batch = 7 } @aws", ("a", a)).AssertNoErrors().Output);
        var context = Prop<IReadOnlyDictionary<string, string>>(protect, "EncryptionContext");
        Assert.Equal(["batch=7", "project=survey"], context.Select(p => $"{p.Key}={p.Value}"));

        var matching = Assert.Single(Run("Unprotect-EnclaveFile ($a + '.enc') -Destination ($dir + '/ok.txt') -ExpectedEncryptionContext @{ project = 'survey' } @aws", ("a", a)).AssertNoErrors().Output);
        Assert.Equal(context, Prop<IReadOnlyDictionary<string, string>>(matching, "EncryptionContext"));
        Assert.Equal("alpha", File.ReadAllText(Path.Combine(Dir, "ok.txt")));

        var mismatch = Run("Unprotect-EnclaveFile ($a + '.enc') -Destination ($dir + '/no.txt') -ExpectedEncryptionContext @{ project = 'other' } @aws", ("a", a));
        Assert.Equal(["EnvelopeContextMismatch"], mismatch.ErrorIds);
        Assert.Empty(mismatch.Output);

        var reserved = Run("Protect-EnclaveFile $a -KeyId $key -EncryptionContext @{ 'aws-crypto-public-key' = 'x' } -Destination ($dir + '/r.enc') @aws", ("a", a));
        Assert.Equal(["EnvelopeReservedContextKey"], reserved.ErrorIds);
        Assert.Empty(reserved.Output);
        Assert.Equal(["a.txt", "a.txt.enc", "ok.txt"], Files());
    }

    [Theory]
    [InlineData("frame", "EnvelopeFrameAuthFailed")]
    [InlineData("signature", "EnvelopeSignatureInvalid")]
    [InlineData("truncated", "EnvelopeTruncated")]
    [InlineData("trailing", "EnvelopeTrailingData")]
    [InlineData("header", "EnvelopeHeaderAuthFailed")]
    [InlineData("context", "KmsInvalidCiphertext")]
    public void A_tampered_file_is_a_typed_error_that_leaves_no_output_while_the_next_file_decrypts(string damage, string errorId)
    {
        var plaintext = Bytes(10_000);
        var source = WriteFile("photo.jpg", plaintext);
        var good = WriteFile("good.txt", Encoding.UTF8.GetBytes("fine"));
        Run("Protect-EnclaveFile $p, $g -KeyId $key -FrameSize 1024 -EncryptionContext @{ owner = 'alice' } @aws", ("p", source), ("g", good)).AssertNoErrors();
        File.Delete(source);
        File.Delete(good);
        var message = File.ReadAllBytes(source + ".enc");
        var headerContext = Encoding.UTF8.GetBytes("alice");
        message = damage switch
        {
            // Frames before the damaged one are authentic and reach the temporary file before the failure.
            "frame" => Flip(message, message.Length - 400),
            "signature" => Flip(message, message.Length - 1),
            "truncated" => message[..^30],
            "trailing" => [.. message, 0],
            // The frame length field (after the framed content type), which only the header tag protects.
            "header" => Flip(message, message.AsSpan().IndexOf((byte[])[2, 0, 0, 4, 0]) + 4),
            // The context is bound to the data key, so KMS refuses it before the header tag is checked.
            _ => Flip(message, message.AsSpan().IndexOf(headerContext)),
        };
        File.WriteAllBytes(source + ".enc", message);

        var result = Run("Unprotect-EnclaveFile $p, $g @aws", ("p", source + ".enc"), ("g", good + ".enc"));

        Assert.Equal([errorId], result.ErrorIds);
        Assert.Equal(source + ".enc", result.Errors[0].TargetObject);
        Assert.Equal(good, Prop<string>(Assert.Single(result.Output), "Destination"));
        Assert.Equal(["good.txt", "good.txt.enc", "photo.jpg.enc"], Files());
    }

    private static byte[] Flip(byte[] bytes, int offset)
    {
        var copy = (byte[])bytes.Clone();
        copy[offset] ^= 0x01;
        return copy;
    }

    [Fact]
    public void A_key_policy_that_denies_Decrypt_fails_with_KmsAccessDenied_and_writes_nothing_for_the_admin_and_the_parent()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));
        var b = WriteFile("b.txt", Encoding.UTF8.GetBytes("bravo"));
        Run("Protect-EnclaveFile $a -KeyId $denied @aws", ("a", a)).AssertNoErrors();
        var byParent = Run("Protect-EnclaveFile $b -KeyId $denied -EndpointUrl $e -Region us-east-1 -AccessKey $pak -SecretKey $psk", ("b", b), ("pak", kms.ParentAccessKey), ("psk", kms.ParentSecretKey)).AssertNoErrors();
        Assert.Equal(kms.DeniedKeyArn, Prop<string>(Assert.Single(byParent.Output), "KeyArn"));
        File.Delete(a);
        File.Delete(b);

        var admin = Run("Unprotect-EnclaveFile ($a + '.enc') @aws", ("a", a));
        var parent = Run("Unprotect-EnclaveFile ($b + '.enc') -EndpointUrl $e -Region us-east-1 -AccessKey $pak -SecretKey $psk", ("b", b), ("pak", kms.ParentAccessKey), ("psk", kms.ParentSecretKey));

        foreach (var result in new[] { admin, parent })
        {
            Assert.Equal(["KmsAccessDenied"], result.ErrorIds);
            Assert.Equal(ErrorCategory.PermissionDenied, result.Errors[0].CategoryInfo.Category);
            Assert.Contains(kms.DeniedKeyArn, result.Errors[0].Exception.Message, StringComparison.Ordinal);
            Assert.Empty(result.Output);
        }

        Assert.DoesNotContain(kms.ParentSecretKey, parent.Errors[0].ToString(), StringComparison.Ordinal);
        Assert.Equal(["a.txt.enc", "b.txt.enc"], Files());
    }

    [Fact]
    public void A_message_pointing_at_the_wrong_key_or_a_missing_key_is_refused_by_KMS()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));
        Run("Protect-EnclaveFile $a -KeyId $key @aws", ("a", a)).AssertNoErrors();
        var message = File.ReadAllBytes(a + ".enc");
        // Both ARNs have the same length, so only the data key's provider info changes.
        var at = message.AsSpan().IndexOf(Encoding.UTF8.GetBytes(kms.KeyArn));
        Encoding.UTF8.GetBytes(kms.OtherKeyArn).CopyTo(message, at);
        File.WriteAllBytes(a + ".enc", message);

        var wrong = Run("Unprotect-EnclaveFile ($a + '.enc') -Destination ($dir + '/out.txt') @aws", ("a", a));
        var missing = Run("Protect-EnclaveFile $a -KeyId alias/none -Destination ($dir + '/none.enc') @aws", ("a", a));

        Assert.Equal(["KmsInvalidCiphertext"], wrong.ErrorIds);
        Assert.Equal(["KmsKeyNotFound"], missing.ErrorIds);
        Assert.Equal(a, missing.Errors[0].TargetObject);
        Assert.Equal(["a.txt", "a.txt.enc"], Files());
    }

    [Fact]
    public void Legacy_encrypted_files_of_the_reference_sample_decrypt_with_a_data_key_from_KMS()
    {
        var plaintext = Encoding.UTF8.GetBytes("a photo of an air show, in the reference sample's format");
        var dataKey = FernetTestFile.GenerateDataKey(kms.Admin, kms.KeyArn);
        var source = WriteFile("photo.jpg.encrypted", FernetTestFile.Build(dataKey.Blob, dataKey.Plaintext, plaintext));

        var result = Assert.Single(Run("Unprotect-EnclaveFile $p @aws", ("p", source)).AssertNoErrors().Output);

        Assert.Equal(plaintext, File.ReadAllBytes(Path.Combine(Dir, "photo.jpg")));
        Assert.Equal("LegacyFernet", Prop<object>(result, "Format").ToString());
        Assert.Null(Prop<object?>(result, "Suite"));
        Assert.Null(Prop<string?>(result, "KeyArn"));
        Assert.Equal((long)plaintext.Length, Prop<long>(result, "PlaintextBytes"));
        Assert.Contains("LegacyFernet", Run("Unprotect-EnclaveFile $p -Destination ($dir + '/again.jpg') @aws", ("p", source)).AssertNoErrors().FormattedText, StringComparison.Ordinal);

        var expecting = Run("Unprotect-EnclaveFile $p -Destination ($dir + '/x.jpg') -ExpectedEncryptionContext @{ a = 'b' } @aws", ("p", source));
        Assert.Equal(["EnvelopeContextMismatch"], expecting.ErrorIds);

        File.WriteAllBytes(source, [.. File.ReadAllBytes(source)[..^4], .. "AAAA"u8]);
        var broken = Run("Unprotect-EnclaveFile $p -Destination ($dir + '/y.jpg') @aws", ("p", source));
        Assert.Equal(["FernetInvalidToken"], broken.ErrorIds);
        Assert.Equal(["again.jpg", "photo.jpg", "photo.jpg.encrypted"], Files());
    }

    [Fact]
    public void A_file_in_neither_format_and_a_missing_file_are_reported_per_file()
    {
        var junk = WriteFile("junk.enc", Encoding.UTF8.GetBytes("not encrypted at all"));

        var result = Run("Unprotect-EnclaveFile -LiteralPath $j, ($dir + '/gone.enc') @aws", ("j", junk));

        // Paths are resolved as they come in, files are processed once all are known.
        Assert.Equal(["PathNotFound", "EncryptedFileFormatUnknown"], result.ErrorIds);
        Assert.Equal(["junk.enc"], Files());
    }

    [Fact]
    public void The_list_view_shows_the_file_the_suite_the_sizes_and_the_context()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));

        var text = Run("Protect-EnclaveFile $a -KeyId $key -EncryptionContext @{ project = 'survey' } @aws", ("a", a)).AssertNoErrors().FormattedText;
        var back = Run("Unprotect-EnclaveFile ($a + '.enc') -Destination ($dir + '/b.txt') @aws", ("a", a)).AssertNoErrors().FormattedText;

        foreach (var expected in new[] { "Source", "Suite", "PlaintextBytes", "a.txt", a + ".enc", "0x0578", "project=survey" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }

        foreach (var expected in new[] { "Format", "EncryptionSdkMessage", "0x0578", "project=survey", Path.Combine(Dir, "b.txt") })
        {
            Assert.Contains(expected, back, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Stopping_the_pipeline_in_the_middle_of_a_file_leaves_no_destination_and_no_temporary_file()
    {
        var source = WriteFile("big.bin", Bytes(2 << 20));
        using var runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        runspace.Open();
        using var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = runspace;
        shell.AddCommand("Import-Module").AddParameter("Name", ModuleHost.ModuleManifest).Invoke();
        shell.Commands.Clear();
        using var midway = new ManualResetEventSlim();
        shell.Streams.Progress.DataAdded += (_, e) =>
        {
            if (shell.Streams.Progress[e.Index] is { ActivityId: 2, PercentComplete: > 0 })
            {
                midway.Set();
            }
        };
        // One-byte frames make the file slow enough to stop in the middle.
        shell.AddCommand("Protect-EnclaveFile").AddParameter("LiteralPath", source).AddParameter("KeyId", kms.KeyArn).AddParameter("FrameSize", 1)
            .AddParameter("EndpointUrl", kms.Endpoint.ToString()).AddParameter("Region", "us-east-1").AddParameter("AccessKey", kms.AccessKey).AddParameter("SecretKey", kms.SecretKey);

        var running = shell.BeginInvoke();
        Assert.True(midway.Wait(TimeSpan.FromSeconds(30)), "no progress past 0%");
        // Linux: the output being written is an unnamed file (O_TMPFILE), so not even a hidden name shows mid-way.
        Assert.Equal(["big.bin"], Files());
        shell.Stop();

        Assert.Throws<PipelineStoppedException>(() => shell.EndInvoke(running));
        Assert.Equal(["big.bin"], Files());
    }

    [Fact]
    public void Credentials_come_from_explicit_keys_then_Credential_then_StoredAWSCredentials_and_profiles()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));
        var profiles = WriteFile("credentials", Encoding.UTF8.GetBytes($"[local]\naws_access_key_id = {kms.AccessKey}\naws_secret_access_key = {kms.SecretKey}\n"));
        var common = "-KeyId $key -EndpointUrl $e -Region us-east-1 -Force";
        (string, object?)[] vars = [("a", a), ("profiles", profiles)];

        string Source(string script)
        {
            var result = Run(script, vars);
            return string.Join(",", result.ErrorIds.DefaultIfEmpty(result.Output.Count == 1 ? "ok" : "no output"));
        }

        Assert.Equal("ok", Source($"Protect-EnclaveFile $a {common} -Credential ([pscustomobject]@{{ AccessKey = $ak; SecretKey = $sk }})"));
        Assert.Equal("ok", Source($"Protect-EnclaveFile $a {common} -Credential @{{ AccessKey = $ak; SecretKey = $sk }}"));
        Assert.Equal("ok", Source($"$c = [pscustomobject]@{{}}; $c.psobject.Methods.Add([System.Management.Automation.PSScriptMethod]::new('GetCredentials', {{ [pscustomobject]@{{ AccessKey = $ak; SecretKey = $sk; Token = '' }} }})); Protect-EnclaveFile $a {common} -Credential $c"));
        Assert.Equal("ok", Source($"$StoredAWSCredentials = [pscustomobject]@{{ AccessKey = $ak; SecretKey = $sk }}; Protect-EnclaveFile $a {common}"));
        Assert.Equal("ok", Source($"$StoredAWSCredentials = 'local'; Protect-EnclaveFile $a {common} -ProfileLocation $profiles"));
        Assert.Equal("ok", Source($"Protect-EnclaveFile $a {common} -ProfileName local -ProfileLocation $profiles"));

        // Explicit keys come first: wrong ones fail even with good stored credentials, and -Credential beats the stored ones.
        Assert.Equal("AwsAccessKeyUnknown", Source($"$StoredAWSCredentials = [pscustomobject]@{{ AccessKey = $ak; SecretKey = $sk }}; Protect-EnclaveFile $a {common} -AccessKey AKIAWRONGWRONGWRONG0 -SecretKey wrong"));
        Assert.Equal("AwsAccessKeyUnknown", Source($"$StoredAWSCredentials = [pscustomobject]@{{ AccessKey = $ak; SecretKey = $sk }}; Protect-EnclaveFile $a {common} -Credential @{{ AccessKey = 'AKIAWRONGWRONGWRONG0'; SecretKey = 'x' }}"));
        // A profile named on the command line beats -Credential (the order of AWS.Tools).
        Assert.Equal("ok", Source($"Protect-EnclaveFile $a {common} -ProfileName local -ProfileLocation $profiles -Credential @{{ AccessKey = 'AKIAWRONGWRONGWRONG0'; SecretKey = 'x' }}"));
        Assert.Equal("AwsStoredCredentialsUnusable", Source($"$StoredAWSCredentials = 42; Protect-EnclaveFile $a {common}"));

        Assert.Equal("AwsCredentialIncomplete", Source($"Protect-EnclaveFile $a {common} -AccessKey $ak"));
        Assert.Equal("AwsCredentialIncomplete", Source($"Protect-EnclaveFile $a {common} -SessionToken token"));
        Assert.Equal("AwsCredentialUnsupported", Source($"Protect-EnclaveFile $a {common} -Credential 'a string'"));
        Assert.Equal("AwsEndpointInvalid", Source("Protect-EnclaveFile $a -KeyId $key -EndpointUrl 'ftp://example' -AccessKey $ak -SecretKey $sk"));
        Assert.Equal("AwsProfileNotFound", Source($"Protect-EnclaveFile $a {common} -ProfileName missing -ProfileLocation $profiles"));
        Assert.Equal(["a.txt", "a.txt.enc", "credentials"], Files());
    }

    [Fact]
    public void The_region_comes_from_Region_then_StoredAWSRegion_and_secrets_never_show_in_errors()
    {
        var a = WriteFile("a.txt", Encoding.UTF8.GetBytes("alpha"));
        var profiles = WriteFile("credentials", []);

        // The profile is missing, so no request is made: the resolved settings are read from the error's target.
        string Target(string script)
        {
            var result = Run($"$StoredAWSRegion = 'eu-west-3'; Protect-EnclaveFile $a -KeyId $key -EndpointUrl $e -ProfileName missing -ProfileLocation $profiles {script}", ("a", a), ("profiles", profiles));
            Assert.Equal(["AwsProfileNotFound"], result.ErrorIds);
            return result.Errors[0].TargetObject.ToString()!;
        }

        Assert.Equal($"profile 'missing', region eu-west-3, endpoint {kms.Endpoint}", Target(string.Empty));
        Assert.Equal($"profile 'missing', region ap-south-1, endpoint {kms.Endpoint}", Target("-Region ap-south-1"));

        var denied = Run("Protect-EnclaveFile $a -KeyId $key -EndpointUrl $e -Region us-east-1 -AccessKey $ak -SecretKey 'not-the-secret-value'", ("a", a));
        Assert.Equal(["AwsSignatureInvalid"], denied.ErrorIds);
        Assert.DoesNotContain("not-the-secret-value", denied.Errors[0].ToString() + denied.Errors[0].Exception, StringComparison.Ordinal);
    }
}

/// <summary>
/// Builds files in the reference sample's legacy format from the Fernet specification: u32 big-endian blob length,
/// the KMS CiphertextBlob, and a Fernet token (0x80, u64 timestamp, IV, AES-128-CBC ciphertext, HMAC-SHA256) in
/// base64url whose key is the 32-byte KMS data key (signing half first).
/// </summary>
internal static class FernetTestFile
{
    public static (byte[] Plaintext, byte[] Blob) GenerateDataKey(RawKmsClient admin, string keyArn)
    {
        var response = EnclaveFileKmsFixture.Ok(admin.SendAsync("TrentService.GenerateDataKey", $$"""{"KeyId": "{{keyArn}}", "KeySpec": "AES_256"}"""));
        return (Convert.FromBase64String(response.GetProperty("Plaintext").GetString()!), Convert.FromBase64String(response.GetProperty("CiphertextBlob").GetString()!));
    }

    public static byte[] Build(byte[] blob, byte[] key, byte[] plaintext)
    {
        using var aes = Aes.Create();
        aes.Key = key[16..];
        var iv = RandomNumberGenerator.GetBytes(16);
        var ciphertext = aes.EncryptCbc(plaintext, iv, PaddingMode.PKCS7);
        var body = new byte[1 + 8 + 16 + ciphertext.Length];
        body[0] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(body.AsSpan(1), (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        iv.CopyTo(body, 9);
        ciphertext.CopyTo(body, 25);
        var token = Convert.ToBase64String([.. body, .. HMACSHA256.HashData(key[..16], body)]).Replace('+', '-').Replace('/', '_');

        var file = new byte[4 + blob.Length];
        BinaryPrimitives.WriteUInt32BigEndian(file, (uint)blob.Length);
        blob.CopyTo(file, 4);
        return [.. file, .. Encoding.ASCII.GetBytes(token)];
    }
}
