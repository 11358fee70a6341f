using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using NitroEnclave.Eif;
using NitroEnclave.Enclave;

namespace NitroEnclave.Tests.Eif;

public sealed class ReproducibleImageTests : IDisposable
{
    private static readonly DateTimeOffset BuildTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
    private readonly TestImageInputs _inputs = new();

    public void Dispose() => _inputs.Dispose();

    private EnclaveImage Build(string name, string? certificate = null, string? key = null, string? rootfs = null) => ReproducibleImage.Build(new ReproducibleImageOptions
    {
        BlobPath = _inputs.BlobPath,
        ServerPath = _inputs.ServerPath,
        RootfsPath = rootfs,
        OutputPath = _inputs.Output(name),
        SigningCertificatePath = certificate,
        SigningKeyPath = key,
        BuildTime = BuildTime,
    });

    [Fact]
    public void Two_builds_of_the_same_inputs_are_byte_identical_whatever_the_files_timestamps()
    {
        Build("first.eif");
        foreach (var file in Directory.EnumerateFiles(_inputs.Root, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".eif", StringComparison.Ordinal)))
        {
            File.SetLastWriteTimeUtc(file, new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc));
        }

        Build("second.eif");

        Assert.Equal(File.ReadAllBytes(_inputs.Output("first.eif")), File.ReadAllBytes(_inputs.Output("second.eif")));
    }

    [Fact]
    public void The_pcrs_match_an_independent_computation_over_the_sections()
    {
        var image = Build("app.eif");
        var sections = TestImageInputs.Sections(File.ReadAllBytes(_inputs.Output("app.eif")));

        // nitro-cli's order: kernel, cmdline, metadata, bootstrap ramdisk, application ramdisk.
        Assert.Equal(new ushort[] { 1, 2, 5, 3, 3 }, sections.Select(s => s.Type));
        var (kernel, cmdline, bootstrap, application) = (sections[0].Data, sections[1].Data, sections[3].Data, sections[4].Data);
        Assert.Equal(File.ReadAllBytes(_inputs.Blob("bzImage")), kernel);
        Assert.Equal(Encoding.ASCII.GetBytes(TestImageInputs.Cmdline), cmdline);
        Assert.Equal(TestImageInputs.Extend(kernel, cmdline, bootstrap, application), image.Measurements.PCR0);
        Assert.Equal(TestImageInputs.Extend(kernel, cmdline, bootstrap), image.Measurements.PCR1);
        Assert.Equal(TestImageInputs.Extend(application), image.Measurements.PCR2);
        Assert.Null(image.Measurements.PCR8);
        Assert.True(image.CheckCrc);
        Assert.Equal(4, image.EifVersion);
        Assert.Equal("x86_64", image.Architecture);
    }

    [Fact]
    public void A_changed_model_byte_changes_pcr2_and_not_the_boot_measurement()
    {
        var before = Build("before.eif").Measurements;
        TestImageInputs.Flip(Path.Combine(_inputs.ServerPath, "models", "detector.onnx"));

        var after = Build("after.eif").Measurements;

        Assert.NotEqual(before.PCR2, after.PCR2);
        Assert.Equal(before.PCR1, after.PCR1);
        Assert.NotEqual(before.PCR0, after.PCR0); // PCR0 covers the whole image
    }

    [Fact]
    public void A_changed_kernel_changes_pcr0_and_pcr1_and_not_pcr2()
    {
        var before = Build("before.eif").Measurements;
        TestImageInputs.Flip(_inputs.Blob("bzImage"));

        var after = Build("after.eif").Measurements;

        Assert.NotEqual(before.PCR0, after.PCR0);
        Assert.NotEqual(before.PCR1, after.PCR1);
        Assert.Equal(before.PCR2, after.PCR2);
    }

    [Fact]
    public void The_bootstrap_ramdisk_holds_dev_init_and_nsm_ko_with_fixed_metadata()
    {
        Build("app.eif");
        var records = TestImageInputs.ParseCpio(TestImageInputs.Sections(File.ReadAllBytes(_inputs.Output("app.eif")))[3].Data);

        Assert.Equal(["dev", "init", "nsm.ko", "TRAILER!!!"], records.Select(r => r.Name));
        Assert.Equal([0x41EDu /* dir 0755 */, 0x81EDu /* file 0755 */, 0x81EDu, 0u], records.Select(r => r.Mode));
        Assert.All(records, r => Assert.Equal((0u, 0u, 0u), (r.Uid, r.Gid, r.Mtime)));
        Assert.Equal(File.ReadAllBytes(_inputs.Blob("init")), records[1].Data);
        Assert.Equal(File.ReadAllBytes(_inputs.Blob("nsm.ko")), records[2].Data);
    }

    [Fact]
    public void The_application_ramdisk_holds_cmd_env_and_the_server_under_rootfs_app()
    {
        Build("app.eif");
        var records = TestImageInputs.ParseCpio(TestImageInputs.Sections(File.ReadAllBytes(_inputs.Output("app.eif")))[4].Data);

        Assert.Equal(
            [
                "cmd", "env", "rootfs", "rootfs/app", "rootfs/app/EnclaveHost", "rootfs/app/libonnxruntime.so", "rootfs/app/models",
                "rootfs/app/models/detector.labels.txt", "rootfs/app/models/detector.onnx",
                "rootfs/dev", "rootfs/proc", "rootfs/run", "rootfs/sys", "rootfs/tmp", "rootfs/var", "TRAILER!!!",
            ],
            records.Select(r => r.Name));
        var byName = records.ToDictionary(r => r.Name);
        Assert.Equal("/app/EnclaveHost\nserve\n--listen\nvsock://:5000\n--nsm\ndevice\n--kms-proxy-port\n8000\n", Encoding.UTF8.GetString(byName["cmd"].Data));
        Assert.StartsWith("PATH=/usr/local/sbin:", Encoding.UTF8.GetString(byName["env"].Data), StringComparison.Ordinal);
        Assert.Equal(0x81EDu, byName["rootfs/app/EnclaveHost"].Mode);
        Assert.Equal(0x81A4u, byName["rootfs/app/models/detector.onnx"].Mode);
        Assert.Equal(0x81A4u, byName["cmd"].Mode);
        Assert.Equal(0x41EDu, byName["rootfs/tmp"].Mode);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_inputs.ServerPath, "models", "detector.onnx")), byName["rootfs/app/models/detector.onnx"].Data);
        Assert.All(records, r => Assert.Equal((0u, 0u, 0u), (r.Uid, r.Gid, r.Mtime)));
    }

    [Fact]
    public void The_metadata_records_the_build_time_pins_and_checksums()
    {
        var image = Build("app.eif");
        var metadata = TestImageInputs.Sections(File.ReadAllBytes(_inputs.Output("app.eif")))[2].Data;

        using var json = JsonDocument.Parse(metadata);
        var root = json.RootElement;
        Assert.Equal(["ImageName", "ImageVersion", "BuildMetadata", "DockerInfo", "CustomMetadata"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("2023-11-14T22:13:20+00:00", image.BuildMetadata!.BuildTime);
        Assert.Equal(("Linux", "6.1.102"), (image.BuildMetadata.OperatingSystem, image.BuildMetadata.KernelVersion));
        var custom = root.GetProperty("CustomMetadata");
        Assert.Equal(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(_inputs.ServerPath, "models", "detector.onnx")))).ToLowerInvariant(), custom.GetProperty("Sha256").GetProperty("app/models/detector.onnx").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+", custom.GetProperty("DotNetSdk").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+", custom.GetProperty("ILCompiler").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+", custom.GetProperty("OnnxRuntime").GetString());
    }

    [Fact]
    public void The_default_build_time_comes_from_source_date_epoch()
    {
        var saved = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        try
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "86400");
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(86400), ReproducibleImage.DefaultBuildTime());
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "yesterday");
            Assert.Equal(ReproducibleImage.BuildTimeInvalid, Assert.Throws<NitroEnclaveException>(() => ReproducibleImage.DefaultBuildTime()).ErrorId);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", saved);
        }
    }

    [Fact]
    public void A_signed_image_has_the_pcr8_of_its_certificate_and_the_same_pcr0_to_pcr2()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var certificate = new CertificateRequest("CN=operator", key, HashAlgorithmName.SHA384).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(_inputs.Output("signer.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(_inputs.Output("signer.key"), key.ExportECPrivateKeyPem());
        var unsigned = Build("unsigned.eif").Measurements;

        var signed = Build("signed.eif", _inputs.Output("signer.pem"), _inputs.Output("signer.key"));

        Assert.Equal(TestImageInputs.Extend(certificate.RawData), signed.Measurements.PCR8);
        Assert.True(signed.SignatureCheck);
        Assert.Equal((unsigned.PCR0, unsigned.PCR1, unsigned.PCR2), (signed.Measurements.PCR0, signed.Measurements.PCR1, signed.Measurements.PCR2));
        Assert.Equal(new ushort[] { 1, 2, 5, 3, 3, 4 }, TestImageInputs.Sections(File.ReadAllBytes(_inputs.Output("signed.eif"))).Select(s => s.Type));
    }

    [Fact]
    public void A_key_that_is_not_the_certificates_is_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var certificate = new CertificateRequest("CN=operator", key, HashAlgorithmName.SHA384).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(_inputs.Output("signer.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(_inputs.Output("other.key"), other.ExportECPrivateKeyPem());

        var error = Assert.Throws<NitroEnclaveException>(() => Build("signed.eif", _inputs.Output("signer.pem"), _inputs.Output("other.key")));

        Assert.Equal(EifErrors.SigningKeyMismatch, error.ErrorId);
        Assert.False(File.Exists(_inputs.Output("signed.eif")));
    }

    [Theory]
    [InlineData("nsm.ko")]
    [InlineData("bzImage.config")]
    [InlineData("cmdline")]
    public void A_missing_blob_is_named(string blob)
    {
        File.Delete(_inputs.Blob(blob));

        var error = Assert.Throws<NitroEnclaveException>(() => Build("app.eif"));

        Assert.Equal(ReproducibleImage.BlobMissing, error.ErrorId);
        Assert.Contains(blob, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_folder_without_the_server_is_refused()
    {
        File.Delete(Path.Combine(_inputs.ServerPath, "EnclaveHost"));

        Assert.Equal(ReproducibleImage.ServerMissing, Assert.Throws<NitroEnclaveException>(() => Build("app.eif")).ErrorId);
    }

    [Fact]
    public void The_comparison_reports_each_mismatch()
    {
        var image = Build("app.eif").Measurements;
        var wrong = new string('a', 96);

        var result = EnclaveImageTestResult.Compare(image, new Dictionary<int, string> { [0] = image.PCR0.ToUpperInvariant(), [1] = wrong, [2] = image.PCR2, [8] = wrong });

        Assert.False(result.Matches);
        Assert.Equal(["PCR1", "PCR8"], result.Mismatches.Select(m => m.Measurement));
        Assert.Null(result.Mismatches[1].Actual);
        Assert.True(EnclaveImageTestResult.Compare(image, image.ToDictionary()).Matches);
        Assert.Equal(EnclaveImageTestResult.ExpectedInvalid, Assert.Throws<NitroEnclaveException>(() => EnclaveImageTestResult.Compare(image, new Dictionary<int, string> { [2] = "abc" })).ErrorId);
    }

    /// <summary>
    /// A rootfs folder for a server that is a real ELF executable (/bin/true: it names the loader and needs libc.so.6),
    /// with stand-ins for what the loader and .NET look for, and a manifest as the fetch script writes it.
    /// </summary>
    private string ElfServerAndRootfs()
    {
        File.Copy("/bin/true", Path.Combine(_inputs.ServerPath, "EnclaveHost"), overwrite: true);
        var rootfs = Path.Combine(_inputs.Root, "rootfs");
        foreach (var (path, text) in new[]
        {
            ("lib64/ld-linux-x86-64.so.2", "loader"),
            ("lib/x86_64-linux-gnu/libc.so.6", "libc"),
            ("usr/lib/x86_64-linux-gnu/libssl.so.3", "libssl"),
            ("etc/ssl/certs/ca-certificates.crt", "certificates"),
            (ReproducibleImage.RootfsManifest, "# pinned\nlibc6 2.36-9+deb12u14 " + new string('a', 64) + " lib/x86_64-linux-gnu/libc.so.6\nlibssl3 3.0.22-1~deb12u2 " + new string('b', 64) + " usr/lib/x86_64-linux-gnu/libssl.so.3\n"),
        })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(rootfs, path))!);
            File.WriteAllText(Path.Combine(rootfs, path), text);
        }

        return rootfs;
    }

    [Fact]
    public void The_rootfs_lands_at_the_enclaves_root_with_the_loader_executable_and_its_packages_in_the_metadata()
    {
        var rootfs = ElfServerAndRootfs();

        Build("app.eif", rootfs: rootfs);

        var sections = TestImageInputs.Sections(File.ReadAllBytes(_inputs.Output("app.eif")));
        var records = TestImageInputs.ParseCpio(sections[4].Data).ToDictionary(r => r.Name);
        Assert.Equal(0x81EDu, records["rootfs/lib64/ld-linux-x86-64.so.2"].Mode);
        Assert.Equal(0x81A4u, records["rootfs/lib/x86_64-linux-gnu/libc.so.6"].Mode);
        Assert.Equal(0x41EDu, records["rootfs/usr/lib/x86_64-linux-gnu"].Mode);
        Assert.Equal("libssl"u8.ToArray(), records["rootfs/usr/lib/x86_64-linux-gnu/libssl.so.3"].Data);
        Assert.Equal(0x81EDu, records["rootfs/app/EnclaveHost"].Mode);
        Assert.Contains("rootfs/tmp", records.Keys);
        Assert.Contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n", Encoding.UTF8.GetString(records["env"].Data), StringComparison.Ordinal);
        // Written as serde_json writes it: a '+' stays a '+'.
        Assert.Contains("\"Version\":\"2.36-9+deb12u14\"", Encoding.UTF8.GetString(sections[2].Data), StringComparison.Ordinal);
        using var json = JsonDocument.Parse(sections[2].Data);
        var packages = json.RootElement.GetProperty("CustomMetadata").GetProperty("RootfsPackages").EnumerateArray()
            .Select(p => (p.GetProperty("Package").GetString(), p.GetProperty("Version").GetString(), p.GetProperty("Sha256").GetString()));
        Assert.Equal([("libc6", "2.36-9+deb12u14", new string('a', 64)), ("libssl3", "3.0.22-1~deb12u2", new string('b', 64))], packages);
    }

    [Fact]
    public void Two_builds_with_a_rootfs_are_byte_identical()
    {
        var rootfs = ElfServerAndRootfs();
        Build("first.eif", rootfs: rootfs);
        File.SetLastWriteTimeUtc(Path.Combine(rootfs, "lib/x86_64-linux-gnu/libc.so.6"), new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc));

        Build("second.eif", rootfs: rootfs);

        Assert.Equal(File.ReadAllBytes(_inputs.Output("first.eif")), File.ReadAllBytes(_inputs.Output("second.eif")));
    }

    [Theory]
    [InlineData("lib/x86_64-linux-gnu/libc.so.6", "libc.so.6")]
    [InlineData("lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2")]
    [InlineData("usr/lib/x86_64-linux-gnu/libssl.so.3", "libssl.so.3")]
    [InlineData("etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")]
    public void A_rootfs_without_what_the_server_needs_is_refused_naming_it(string file, string named)
    {
        var rootfs = ElfServerAndRootfs();
        File.Delete(Path.Combine(rootfs, file));

        var error = Assert.Throws<NitroEnclaveException>(() => Build("app.eif", rootfs: rootfs));

        Assert.Equal(ReproducibleImage.RootfsIncomplete, error.ErrorId);
        Assert.EndsWith($"needs to run: {named}.", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_inputs.Output("app.eif")));
    }

    [Fact]
    public void A_missing_rootfs_folder_and_one_that_would_replace_the_server_are_refused()
    {
        Assert.Equal(ReproducibleImage.RootfsMissing, Assert.Throws<NitroEnclaveException>(() => Build("app.eif", rootfs: Path.Combine(_inputs.Root, "none"))).ErrorId);
        var rootfs = ElfServerAndRootfs();
        Directory.CreateDirectory(Path.Combine(rootfs, "app"));
        Assert.Equal(ReproducibleImage.RootfsConflict, Assert.Throws<NitroEnclaveException>(() => Build("app.eif", rootfs: rootfs)).ErrorId);
    }

    [Fact]
    public void A_malformed_manifest_line_is_refused_with_its_number()
    {
        var rootfs = ElfServerAndRootfs();
        File.WriteAllText(Path.Combine(rootfs, ReproducibleImage.RootfsManifest), "# pinned\nlibc6 2.36\n");

        var error = Assert.Throws<NitroEnclaveException>(() => Build("app.eif", rootfs: rootfs));

        Assert.Equal(ReproducibleImage.RootfsIncomplete, error.ErrorId);
        Assert.Contains("Line 2 ", error.Message, StringComparison.Ordinal);
    }
}
