using System.Management.Automation;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>Start-EnclaveSimulation and the cmdlets it points at the simulation, in one session each.</summary>
public sealed class EnclaveSimulationCommandTests : IDisposable
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("simulation-");

    public void Dispose() => _data.Delete(recursive: true);

    private Dictionary<string, object?> Variables(Dictionary<string, object?>? more = null)
    {
        var variables = new Dictionary<string, object?> { ["data"] = _data.FullName };
        foreach (var (key, value) in more ?? [])
        {
            variables[key] = value;
        }

        return variables;
    }

    [Fact]
    public void The_simulation_serves_attestation_with_its_PCRs_and_Stop_clears_the_defaults_and_the_processes()
    {
        var result = ModuleHost.Run("""
            $sim = Start-EnclaveSimulation -DataPath $data
            $sim
            (Get-EnclavePcr -Simulation).PCR0
            (Get-EnclaveAttestation | Test-EnclaveAttestation -ExpectedPcr (Get-EnclavePcr -Simulation)).IsValid
            $PSDefaultParameterValues['Invoke-EnclaveDetection:Endpoint']
            Stop-EnclaveSimulation
            $PSDefaultParameterValues.Count
            [System.Diagnostics.Process]::GetProcesses().Id -contains $sim.EnclaveProcessId
            [System.Diagnostics.Process]::GetProcesses().Id -contains $sim.KmsProcessId
            """, Variables()).AssertNoErrors();

        var simulation = result.Output[0];
        Assert.Equal("NitroEnclave.Simulation.EnclaveSimulation", simulation.BaseObject.GetType().FullName);
        var pcr0 = (string)result.Output[1].BaseObject;
        Assert.Equal(96, pcr0.Length);
        Assert.Equal(pcr0, ((dynamic)simulation.Properties["Pcrs"].Value).PCR0);
        Assert.Equal(true, result.Output[2].BaseObject);
        Assert.Equal(simulation.Properties["EnclaveEndpoint"].Value, result.Output[3].BaseObject);
        Assert.Equal(0, result.Output[4].BaseObject);
        Assert.Equal([false, false], result.Output.Skip(5).Select(o => (bool)o.BaseObject));
        Assert.Contains("KmsEndpoint", result.FormattedText, StringComparison.Ordinal);
        Assert.DoesNotContain(ModuleHost.SecretOf(simulation), result.FormattedText, StringComparison.Ordinal);
        Assert.All((IEnumerable<string>)simulation.Properties["LogFiles"].Value, log => Assert.True(File.Exists(log), log));
    }

    [Fact]
    public void Debug_mode_reads_all_PCRs_as_zero()
    {
        var result = ModuleHost.Run("""
            $null = Start-EnclaveSimulation -DataPath $data -DebugMode -Transport Unix
            (Get-EnclavePcr -Simulation).PCR0
            (Get-EnclaveAttestation | Test-EnclaveAttestation).Pcrs[1]
            Stop-EnclaveSimulation
            """, Variables()).AssertNoErrors();

        Assert.Equal(new string('0', 96), result.Output[0].BaseObject);
        Assert.Equal(new string('0', 96), result.Output[1].BaseObject);
    }

    [Fact]
    public void A_garbage_file_is_DecryptFailed_and_a_second_start_is_refused()
    {
        var garbage = Path.Combine(_data.FullName, "garbage.enc");
        File.WriteAllBytes(garbage, new byte[300]);

        var result = ModuleHost.Run("""
            $null = Start-EnclaveSimulation -DataPath $data
            Invoke-EnclaveDetection -Path $garbage
            Start-EnclaveSimulation -DataPath $data
            Stop-EnclaveSimulation
            Stop-EnclaveSimulation
            """, Variables(new() { ["garbage"] = garbage }));

        Assert.Equal(["EnclaveDecryptFailed", "SimulationAlreadyRunning", "SimulationNotRunning"], result.ErrorIds);
        Assert.Equal(garbage, result.Errors[0].TargetObject);
    }

    [Fact]
    public void Invoke_EnclaveDetection_sends_successive_files_over_one_connection_and_says_so()
    {
        var files = Enumerable.Range(0, 3).Select(i => Path.Combine(_data.FullName, $"garbage{i}.enc")).ToArray();
        Array.ForEach(files, f => File.WriteAllBytes(f, new byte[300]));

        var result = ModuleHost.Run("""
            $null = Start-EnclaveSimulation -DataPath $data
            Invoke-EnclaveDetection -Path $files -ThrottleLimit 1 -Verbose 4>&1
            Stop-EnclaveSimulation
            """, Variables(new() { ["files"] = files }));

        Assert.Equal(["EnclaveDecryptFailed", "EnclaveDecryptFailed", "EnclaveDecryptFailed"], result.ErrorIds);
        var verbose = result.Output.Select(o => o.BaseObject).OfType<VerboseRecord>().Select(v => v.Message).ToList();
        Assert.Contains("3 files over 1 connections.", verbose);
    }

    [Fact]
    public void Removing_the_module_stops_the_simulation()
    {
        var result = ModuleHost.Run("""
            $sim = Start-EnclaveSimulation -DataPath $data
            Remove-Module NitroEnclave
            $sim.EnclaveProcessId, $sim.KmsProcessId
            $PSDefaultParameterValues.Count
            """, Variables()).AssertNoErrors();

        AssertGone((int)result.Output[0].BaseObject, (int)result.Output[1].BaseObject);
        Assert.Equal(0, result.Output[2].BaseObject);
    }

    [Fact]
    public void Ending_the_session_stops_the_simulation()
    {
        var result = ModuleHost.Run("""
            $sim = Start-EnclaveSimulation -DataPath $data
            $sim.EnclaveProcessId, $sim.KmsProcessId
            """, Variables()).AssertNoErrors();

        AssertGone((int)result.Output[0].BaseObject, (int)result.Output[1].BaseObject);
    }

    private static void AssertGone(params int[] processIds)
    {
        foreach (var id in processIds)
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(id);
                Assert.True(process.WaitForExit(TimeSpan.FromSeconds(15)), $"process {id} still runs");
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
    }

    [Fact]
    public void Get_EnclavePcr_Simulation_without_a_simulation_is_a_clear_error()
    {
        var result = ModuleHost.Run("Get-EnclavePcr -Simulation");

        Assert.Equal(["SimulationNotRunning"], result.ErrorIds);
    }
}
