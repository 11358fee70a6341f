using System.Collections;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NitroEnclave.Simulation;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// The simulation each PowerShell session runs, and the session defaults it set. Closing the session, removing the
/// module or ending the process stops the children.
/// </summary>
internal static class SimulationRegistry
{
    private static readonly ConcurrentDictionary<Guid, (EnclaveSimulation Simulation, Hashtable Defaults, Dictionary<string, object> Set)> Running = new();

    static SimulationRegistry() => AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAll();

    public static EnclaveSimulation? Current(Runspace runspace) => Running.TryGetValue(runspace.InstanceId, out var entry) ? entry.Simulation : null;

    public static void Add(Runspace runspace, EnclaveSimulation simulation, Hashtable defaults, Dictionary<string, object> set)
    {
        Running[runspace.InstanceId] = (simulation, defaults, set);
        runspace.StateChanged += (_, e) =>
        {
            if (e.RunspaceStateInfo.State is RunspaceState.Closing or RunspaceState.Closed or RunspaceState.Broken)
            {
                Stop(runspace);
            }
        };
    }

    /// <summary>Stops the session's simulation and removes the defaults it set (unless the user changed them since).</summary>
    public static EnclaveSimulation? Stop(Runspace runspace)
    {
        if (!Running.TryRemove(runspace.InstanceId, out var entry))
        {
            return null;
        }

        foreach (var (key, value) in entry.Set)
        {
            if (Equals(entry.Defaults[key], value))
            {
                entry.Defaults.Remove(key);
            }
        }

        entry.Simulation.Dispose();
        return entry.Simulation;
    }

    public static void StopAll()
    {
        foreach (var id in Running.Keys)
        {
            if (Running.TryRemove(id, out var entry))
            {
                entry.Simulation.Dispose();
            }
        }
    }
}

/// <summary>
/// <para type="synopsis">Runs the whole flow locally: a local KMS and the enclave server with a simulated security module.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "EnclaveSimulation", SupportsShouldProcess = true)]
[OutputType(typeof(EnclaveSimulation))]
public sealed class StartEnclaveSimulationCommand : NitroEnclaveCmdlet
{
    /// <summary>State kept between runs (simulated chain, KMS keys, logs). Default: ~/.nitroenclave/simulation.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DataPath { get; set; }

    /// <summary>Tcp (a loopback port) or Unix (a socket in the data path).</summary>
    [Parameter]
    [ValidateSet("Tcp", "Unix")]
    public string Transport { get; set; } = "Tcp";

    /// <summary>The alias of the simulation's KMS key (created on first use).</summary>
    [Parameter]
    [ValidatePattern("^alias/[a-zA-Z0-9/_-]+$")]
    public string KeyAlias { get; set; } = "alias/nitroenclave-simulation";

    /// <summary>Simulate a debug-mode enclave: every PCR reads as zero.</summary>
    [Parameter]
    public SwitchParameter DebugMode { get; set; }

    /// <summary>How many enclave servers to start: a fleet Invoke-EnclaveDetection spreads files over.</summary>
    [Parameter]
    [ValidateRange(1, 16)]
    public int EnclaveCount { get; set; } = 1;

    /// <summary>Report the PCRs of this enclave image instead of measuring the server and its model.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ImagePath { get; set; }

    protected override void EndProcessing()
    {
        var runspace = Runspace.DefaultRunspace;
        if (SimulationRegistry.Current(runspace) is { IsRunning: true } running)
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException("SimulationAlreadyRunning", ErrorKind.InvalidOperation,
                $"A simulation is already running in this session (enclave {running.EnclaveEndpoint}); stop it with Stop-EnclaveSimulation first."), running));
        }

        SimulationRegistry.Stop(runspace);
        var dataPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(
            DataPath ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nitroenclave", "simulation"));
        var imagePath = ImagePath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(ImagePath);
        if (!ShouldProcess(dataPath, "Start the local KMS and the enclave server"))
        {
            return;
        }

        Directory.CreateDirectory(dataPath);
        EnclaveSimulation simulation;
        try
        {
            WriteProgress(new ProgressRecord(1, "Enclave simulation", "Starting the local KMS and the enclave server"));
            simulation = EnclaveSimulation.Start(
                new EnclaveSimulationOptions
                {
                    ModuleDirectory = Path.GetDirectoryName(typeof(StartEnclaveSimulationCommand).Assembly.Location)!,
                    DataPath = dataPath,
                    UnixSocket = Transport == "Unix",
                    DebugMode = DebugMode,
                    ImagePath = imagePath,
                    KeyAlias = KeyAlias,
                    EnclaveCount = EnclaveCount,
                },
                CancellationToken);
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, dataPath));
            return;
        }
        finally
        {
            WriteProgress(new ProgressRecord(1, "Enclave simulation", "Started") { RecordType = ProgressRecordType.Completed });
        }

        var defaults = DefaultParameterValues();
        var set = SessionDefaults(simulation);
        foreach (var (key, value) in set)
        {
            defaults[key] = value;
        }

        SimulationRegistry.Add(runspace, simulation, defaults, set);
        if (simulation.DebugMode)
        {
            WriteWarning($"Debug mode: the simulated enclave reports every PCR as zero, which no key policy can pin (every debug-mode enclave reports it). The key {simulation.KeyAlias} is pinned to the image's own measurements, so KMS refuses this enclave, as AWS refuses a debug-mode enclave.");
        }

        WriteVerbose($"Session defaults set for {string.Join(", ", set.Keys.Select(k => k.Split(':')[0]).Distinct())}.");
        WriteObject(simulation);
    }

    /// <summary>The $PSDefaultParameterValues entries that point the module's cmdlets at the simulation.</summary>
    private static Dictionary<string, object> SessionDefaults(EnclaveSimulation simulation)
    {
        var set = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
        foreach (var cmdlet in new[] { "Protect-EnclaveFile", "Unprotect-EnclaveFile", "Set-KmsEnclavePolicy", "Get-KmsEnclavePolicy", "Invoke-EnclaveDetection", "Unprotect-EnclaveDetectionResult" })
        {
            // The parent's credentials object, not the secret: $PSDefaultParameterValues prints what it holds. The
            // data owner acts with an explicit -Credential $simulation.DataOwnerCredential.
            set[cmdlet + ":Credential"] = simulation.Credential;
            set[cmdlet + ":Region"] = simulation.Region;
            set[cmdlet + ":EndpointUrl"] = simulation.KmsEndpoint;
        }

        foreach (var cmdlet in new[] { "Protect-EnclaveFile", "Set-KmsEnclavePolicy", "Get-KmsEnclavePolicy" })
        {
            set[cmdlet + ":KeyId"] = simulation.KeyAlias;
        }

        set["Invoke-EnclaveDetection:Endpoint"] = simulation.EnclaveEndpoints.Count == 1 ? simulation.EnclaveEndpoint : simulation.EnclaveEndpoints.ToArray();
        set["Get-EnclaveAttestation:Endpoint"] = simulation.EnclaveEndpoint;
        set["Test-EnclaveAttestation:TrustedRoot"] = simulation.RootCertificatePath;
        return set;
    }

    private Hashtable DefaultParameterValues()
    {
        if (SessionState.PSVariable.GetValue("PSDefaultParameterValues") is Hashtable existing)
        {
            return existing;
        }

        var created = new DefaultParameterDictionary();
        SessionState.PSVariable.Set("PSDefaultParameterValues", created);
        return created;
    }
}

/// <summary>
/// <para type="synopsis">Stops the session's enclave simulation and clears the session defaults it set.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "EnclaveSimulation", SupportsShouldProcess = true)]
[OutputType(typeof(EnclaveSimulation))]
public sealed class StopEnclaveSimulationCommand : NitroEnclaveCmdlet
{
    /// <summary>Writes the stopped simulation.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var runspace = Runspace.DefaultRunspace;
        if (SimulationRegistry.Current(runspace) is not { } simulation)
        {
            WriteError(ToErrorRecord(new NitroEnclaveException("SimulationNotRunning", ErrorKind.InvalidOperation, "No enclave simulation is running in this session."), null));
            return;
        }

        if (ShouldProcess($"enclave {simulation.EnclaveEndpoint}, KMS {simulation.KmsEndpoint}", "Stop the enclave simulation"))
        {
            SimulationRegistry.Stop(runspace);
            if (PassThru)
            {
                WriteObject(simulation);
            }
        }
    }
}
