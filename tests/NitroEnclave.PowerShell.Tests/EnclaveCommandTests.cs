using System.Management.Automation;

namespace NitroEnclave.PowerShell.Tests;

[Collection(ProcessEnvironmentGroup.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class EnclaveCommandTests : IDisposable
{
    private readonly FakeTools _tools = new();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclave-ps-");
    private readonly string _image;

    public EnclaveCommandTests()
    {
        _image = Path.Combine(_dir.FullName, "app.eif");
        File.WriteAllBytes(_image, new byte[(5 << 20) + 1]);
    }

    public void Dispose()
    {
        _dir.Delete(recursive: true);
        _tools.Dispose();
    }

    private ScriptResult Run(string script) => ModuleHost.Run(script, new Dictionary<string, object?>
    {
        ["image"] = _image,
        ["dir"] = _dir.FullName,
    });

    [Fact]
    public void New_EnclaveImage_passes_arguments_as_a_list_and_returns_the_measurements()
    {
        var result = Run("New-EnclaveImage -DockerUri 'my app:1.0' -OutputPath $dir/built.eif -Verbose 4>&1").AssertNoErrors();

        var output = Path.Combine(_dir.FullName, "built.eif");
        var measurements = Assert.Single(result.Output, o => o.BaseObject is not VerboseRecord);
        Assert.Equal("NitroEnclave.Eif.EnclaveMeasurements", measurements.BaseObject.GetType().FullName);
        Assert.Equal(output, measurements.Properties["Path"].Value);
        Assert.Equal(96, ((string)measurements.Properties["PCR0"].Value).Length);
        Assert.Null(measurements.Properties["PCR8"].Value);
        Assert.True(File.Exists(output));
        Assert.Equal(["build-enclave", "--docker-uri", "my app:1.0", "--output-file", output], Assert.Single(_tools.NitroCliCalls()));
        Assert.Contains(result.Output, o => o.BaseObject is VerboseRecord v && v.Message == "Enclave Image successfully created.");
    }

    [Fact]
    public void A_signed_build_reports_PCR8_and_needs_both_certificate_and_key()
    {
        var cert = Path.Combine(_dir.FullName, "cert.pem");
        File.WriteAllText(cert, "-----BEGIN CERTIFICATE-----\n");

        var signed = Run("New-EnclaveImage app:1 $dir/s.eif -SigningCertificate $dir/cert.pem -PrivateKey $dir/key.pem").AssertNoErrors();
        var incomplete = Run("New-EnclaveImage app:1 $dir/u.eif -SigningCertificate $dir/cert.pem");

        Assert.Equal(96, ((string)signed.Output.Single().Properties["PCR8"].Value).Length);
        Assert.Equal(["EnclaveSigningIncomplete"], incomplete.ErrorIds);
        Assert.Single(_tools.NitroCliCalls());
    }

    [Fact]
    public void Start_Enclave_defaults_memory_to_four_times_the_image_rounded_up()
    {
        var result = Run("Start-Enclave -ImagePath $image").AssertNoErrors();

        var enclave = Assert.Single(result.Output);
        Assert.Equal("NitroEnclave.Enclave.EnclaveInfo", enclave.BaseObject.GetType().FullName);
        Assert.Equal(21L, enclave.Properties["MemoryMiB"].Value);
        Assert.Equal(2, enclave.Properties["NumberOfCPUs"].Value);
        Assert.Equal(["run-enclave", "--eif-path", _image, "--cpu-count", "2", "--memory", "21"], Assert.Single(_tools.NitroCliCalls()));
    }

    [Fact]
    public void Start_Enclave_passes_cid_debug_mode_and_name_and_Get_Enclave_sees_it()
    {
        Run("Start-Enclave $image -CpuCount 4 -MemoryMiB 64 -Cid 20 -DebugMode -Name 'ml model'").AssertNoErrors();

        var result = Run("Get-Enclave").AssertNoErrors();

        Assert.Equal(["run-enclave", "--eif-path", _image, "--cpu-count", "4", "--memory", "64", "--enclave-cid", "20", "--debug-mode", "--enclave-name", "ml model"], _tools.NitroCliCalls()[0]);
        var enclave = Assert.Single(result.Output);
        Assert.Equal("ml model", enclave.Properties["EnclaveName"].Value);
        Assert.Equal(20UL, enclave.Properties["EnclaveCID"].Value);
        Assert.Equal("RUNNING", enclave.Properties["State"].Value);
        Assert.Equal("DEBUG_MODE", enclave.Properties["Flags"].Value);
        Assert.Equal(true, enclave.Properties["IsDebugMode"].Value);
        Assert.Equal(new[] { 1, 2, 3, 4 }, (IEnumerable<int>)enclave.Properties["CPUIDs"].Value);
        Assert.Equal(96, ((string)PSObject.AsPSObject(enclave.Properties["Measurements"].Value).Properties["PCR0"].Value).Length);
        Assert.Contains("ml model", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("DEBUG_MODE", result.FormattedText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Start-Enclave $image -MemoryMiB 20", "EnclaveMemoryTooSmall")]
    [InlineData("Start-Enclave $image -Cid 3", "EnclaveCidInvalid")]
    [InlineData("Start-Enclave $image -CpuCount 0", "EnclaveCpuCountInvalid")]
    [InlineData("Start-Enclave $dir/none.eif", "EnclaveImageNotFound")]
    public void Start_Enclave_refuses_bad_arguments_before_running_nitro_cli(string script, string errorId)
    {
        var result = Run(script);

        Assert.Equal([errorId], result.ErrorIds);
        Assert.Empty(_tools.NitroCliCalls());
    }

    [Fact]
    public void Start_Enclave_under_WhatIf_runs_nothing()
    {
        var result = Run("Start-Enclave $image -WhatIf").AssertNoErrors();

        Assert.Empty(_tools.NitroCliCalls());
        Assert.Contains("Start enclave with 2 CPUs and 21 MiB", result.FormattedText, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_Enclave_filters_by_name_and_pipes_into_Stop_Enclave()
    {
        Run("Start-Enclave $image -Name alpha; Start-Enclave $image -Name beta").AssertNoErrors();

        var alpha = Run("Get-Enclave -Name al*").AssertNoErrors();
        var stopped = Run("Get-Enclave -Name beta | Stop-Enclave -Force").AssertNoErrors();
        var remaining = Run("Get-Enclave | ForEach-Object EnclaveName").AssertNoErrors();

        Assert.Equal("alpha", Assert.Single(alpha.Output).Properties["EnclaveName"].Value);
        var termination = Assert.Single(stopped.Output);
        Assert.Equal("beta", termination.Properties["EnclaveName"].Value);
        Assert.Equal(true, termination.Properties["Terminated"].Value);
        Assert.Equal(["alpha"], remaining.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Stop_Enclave_All_terminates_everything_and_WhatIf_nothing()
    {
        Run("Start-Enclave $image; Start-Enclave $image").AssertNoErrors();

        var preview = Run("Stop-Enclave -All -WhatIf").AssertNoErrors();
        var afterPreview = Run("Get-Enclave").AssertNoErrors();
        var all = Run("Stop-Enclave -All -Force").AssertNoErrors();
        var after = Run("Get-Enclave").AssertNoErrors();

        Assert.Contains("What if: Performing the operation \"Terminate\" on target \"all enclaves\"", preview.FormattedText, StringComparison.Ordinal);
        Assert.Equal(2, afterPreview.Output.Count);
        Assert.Equal(2, all.Output.Count);
        Assert.Empty(after.Output);
        Assert.Equal(["terminate-enclave", "--all"], _tools.NitroCliCalls().Single(c => c[0] == "terminate-enclave"));
    }

    [Fact]
    public void Stopping_an_unknown_enclave_is_a_per_item_error_and_the_rest_go_on()
    {
        Run("Start-Enclave $image -Name keep").AssertNoErrors();
        var id = (string)Run("Get-Enclave | ForEach-Object EnclaveID").Output.Single().BaseObject;

        var result = ModuleHost.Run("Stop-Enclave -Force -Id 'i-nope-enc0', $id", new Dictionary<string, object?> { ["id"] = id });

        Assert.Equal(["NitroCliFailed"], result.ErrorIds);
        Assert.Equal("i-nope-enc0", result.Errors[0].TargetObject);
        Assert.Contains("exit code 1", result.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Contains("E11", result.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Equal(id, Assert.Single(result.Output).Properties["EnclaveID"].Value);
    }

    [Theory]
    [InlineData("describe-enclaves", "Get-Enclave")]
    [InlineData("run-enclave", "Start-Enclave $image")]
    [InlineData("build-enclave", "New-EnclaveImage app:1 $dir/x.eif")]
    public void A_failing_nitro_cli_gives_NitroCliFailed_with_its_stderr_and_exit_code(string subcommand, string script)
    {
        Environment.SetEnvironmentVariable("FAKE_NITRO_CLI_FAIL", subcommand);

        var result = Run(script);

        Assert.Equal(["NitroCliFailed"], result.ErrorIds);
        Assert.Empty(result.Output);
        var message = result.Errors[0].Exception.Message;
        Assert.Contains($"nitro-cli {subcommand} failed with exit code 1", message, StringComparison.Ordinal);
        Assert.Contains("[ E36 ] Enclave boot failure", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Get-Enclave")]
    [InlineData("Start-Enclave $image")]
    [InlineData("Stop-Enclave -All -Force")]
    [InlineData("New-EnclaveImage app:1 $dir/x.eif")]
    public void A_missing_nitro_cli_gives_NitroCliNotFound(string script)
    {
        Environment.SetEnvironmentVariable("PATH", _tools.EmptyBin);

        var result = Run(script);

        Assert.Equal(["NitroCliNotFound"], result.ErrorIds);
    }
}
