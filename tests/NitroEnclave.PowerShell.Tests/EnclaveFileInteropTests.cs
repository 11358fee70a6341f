using System.Diagnostics;
using System.Text.Json;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>
/// Interoperability with an official AWS Encryption SDK: the JavaScript one (@aws-crypto/client-node, pinned in
/// tests/interop/esdk-node, installed by scripts/prepare-interop.sh) with a KMS keyring pointed at the local KMS.
/// Messages it writes decrypt with Unprotect-EnclaveFile, and messages Protect-EnclaveFile writes decrypt there.
/// </summary>
public sealed class EnclaveFileInteropTests(EnclaveFileKmsFixture kms) : IClassFixture<EnclaveFileKmsFixture>, IDisposable
{
    private static readonly string InteropDirectory = Path.Combine(ModuleHost.RepositoryRoot, "tests", "interop", "esdk-node");

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclavefile-interop-");

    public void Dispose() => _dir.Delete(recursive: true);

    private ScriptResult Run(string script, params (string Name, object? Value)[] extra)
    {
        var vars = new Dictionary<string, object?> { ["e"] = kms.Endpoint.ToString(), ["ak"] = kms.AccessKey, ["sk"] = kms.SecretKey, ["key"] = kms.KeyArn };
        foreach (var (name, value) in extra)
        {
            vars[name] = value;
        }

        return ModuleHost.Run("$aws = @{ EndpointUrl = $e; AccessKey = $ak; SecretKey = $sk; Region = 'us-east-1' }; " + script, vars);
    }

    /// <summary>Runs interop.mjs; fails (never skips) when Node.js or the SDK is not installed.</summary>
    private JsonElement Official(params string[] arguments)
    {
        Assert.True(File.Exists(Path.Combine(InteropDirectory, "node_modules", "@aws-crypto", "client-node", "package.json")),
            "The AWS Encryption SDK for JavaScript is not installed: run scripts/prepare-interop.sh (scripts/prepare.sh calls it).");
        var start = new ProcessStartInfo("node") { WorkingDirectory = InteropDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("interop.mjs");
        foreach (var argument in arguments.Concat(["--endpoint", kms.Endpoint.ToString(), "--region", "us-east-1", "--key-arn", kms.KeyArn]))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["AWS_ACCESS_KEY_ID"] = kms.AccessKey;
        start.Environment["AWS_SECRET_ACCESS_KEY"] = kms.SecretKey;
        start.Environment.Remove("AWS_SESSION_TOKEN");
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("Node.js (node on PATH) is needed for the interoperability tests: install it, then run scripts/prepare-interop.sh.", ex);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(60_000), "interop.mjs did not finish within a minute");
            Assert.True(process.ExitCode == 0, $"interop.mjs {arguments[0]} failed: {stderr.Result}");
            return JsonDocument.Parse(stdout).RootElement.Clone();
        }
    }

    private static byte[] Bytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(false, 0x0578)]
    [InlineData(true, 0x0478)]
    public void A_message_written_by_the_official_SDK_decrypts_with_Unprotect_EnclaveFile(bool noSignature, int suiteId)
    {
        var plaintext = Bytes(10_000);
        var source = Path.Combine(_dir.FullName, "photo.jpg");
        File.WriteAllBytes(source, plaintext);
        string[] arguments = ["encrypt", "--in", source, "--out", source + ".enc", "--context", "project=survey", "--frame-length", "1000"];

        var written = Official(noSignature ? [.. arguments, "--no-signature"] : arguments);
        File.Delete(source);
        var result = Assert.Single(Run("Unprotect-EnclaveFile $p -ExpectedEncryptionContext @{ project = 'survey' } @aws", ("p", source + ".enc")).AssertNoErrors().Output);

        Assert.Equal(suiteId, written.GetProperty("suiteId").GetInt32());
        Assert.Equal(plaintext, File.ReadAllBytes(source));
        Assert.Equal((ushort)suiteId, System.Management.Automation.PSObject.AsPSObject(result.Properties["Suite"].Value).Properties["Id"].Value);
        Assert.Equal(kms.KeyArn, result.Properties["KeyArn"].Value);
        Assert.Equal("survey", ((IReadOnlyDictionary<string, string>)result.Properties["EncryptionContext"].Value)["project"]);
    }

    [Theory]
    [InlineData(false, 0x0578, 65536)]
    [InlineData(true, 0x0478, 1)]
    public void A_message_written_by_Protect_EnclaveFile_decrypts_with_the_official_SDK(bool noSignature, int suiteId, int frameSize)
    {
        var plaintext = Bytes(5000);
        var source = Path.Combine(_dir.FullName, "report.csv");
        File.WriteAllBytes(source, plaintext);
        Run("Protect-EnclaveFile $p -KeyId alias/files -EncryptionContext @{ owner = 'data team' } -FrameSize $f -NoSignature:$ns @aws",
            ("p", source), ("f", frameSize), ("ns", noSignature)).AssertNoErrors();

        var read = Official("decrypt", "--in", source + ".enc", "--out", source + ".out");

        Assert.Equal(plaintext, File.ReadAllBytes(source + ".out"));
        Assert.Equal(suiteId, read.GetProperty("suiteId").GetInt32());
        Assert.Equal(frameSize, read.GetProperty("frameLength").GetInt32());
        Assert.Equal("data team", read.GetProperty("encryptionContext").GetProperty("owner").GetString());
        Assert.Equal(noSignature, !read.GetProperty("encryptionContext").TryGetProperty("aws-crypto-public-key", out _));
    }

    [Fact]
    public void The_official_SDK_rejects_a_message_from_here_once_a_frame_is_altered()
    {
        var source = Path.Combine(_dir.FullName, "data.bin");
        File.WriteAllBytes(source, Bytes(3000));
        Run("Protect-EnclaveFile $p -KeyId $key -FrameSize 1000 @aws", ("p", source)).AssertNoErrors();
        var message = File.ReadAllBytes(source + ".enc");
        message[message.Length - 500] ^= 1;
        File.WriteAllBytes(source + ".enc", message);

        var error = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Official("decrypt", "--in", source + ".enc", "--out", source + ".out"));

        Assert.Contains("interop.mjs decrypt failed", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(source + ".out"));
    }
}
