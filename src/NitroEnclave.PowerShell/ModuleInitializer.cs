using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace NitroEnclave.PowerShell;

/// <summary>
/// Loads the module's dependencies into a private AssemblyLoadContext, so the module can share a session with
/// modules (AWS.Tools.*, powershell-yaml) that bring other versions of AWSSDK.Core or YamlDotNet.
/// The cmdlet assembly itself sits in the default context and references only NitroEnclave.Core,
/// NitroEnclave.Trusted and NitroEnclave.Detection; everything they need then resolves inside the private context from the deps folder.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static readonly string DependencyDirectory =
        Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "deps");

    private static readonly DependencyLoadContext PrivateContext = new(DependencyDirectory);
    private static int _registered;

    public void OnImport()
    {
        // Once per process: several runspaces may import the module, and the handler serves them all.
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            AssemblyLoadContext.Default.Resolving += ResolveCore;
        }
    }

    /// <summary>
    /// Removing the module (Remove-Module, or Import-Module -Force, which removes it first) stops the session's
    /// enclave simulation and local KMS servers, as ending the session does; it warns first, because the user may
    /// only have meant to reload the module.
    /// </summary>
    public void OnRemove(PSModuleInfo psModuleInfo) => StopSessionChildren(psModuleInfo);

    // Kept apart so the Core types it touches load only after OnImport registered the resolver.
    private static void StopSessionChildren(PSModuleInfo module)
    {
        var runspace = System.Management.Automation.Runspaces.Runspace.DefaultRunspace;
        if (runspace is null)
        {
            return;
        }

        var simulation = Commands.SimulationRegistry.Current(runspace);
        var servers = Commands.LocalKmsRegistry.StartedBy(runspace);
        var stopping = new List<string>();
        if (simulation is { IsRunning: true })
        {
            stopping.Add($"the enclave simulation (enclave {simulation.EnclaveEndpoint}, KMS {simulation.KmsEndpoint})");
        }

        stopping.AddRange(servers.Select(s => $"the local KMS at {s.Endpoint} (process {s.ProcessId})"));
        if (stopping.Count > 0)
        {
            Warn(module, $"Removing the NitroEnclave module stops {string.Join(" and ", stopping)} that this session started; start them again after importing it.");
        }

        Commands.SimulationRegistry.Stop(runspace);
        Commands.LocalKmsRegistry.StopAll(runspace.InstanceId);
    }

    /// <summary>A warning on the host, as Write-Warning would give it: module cleanup has no cmdlet to write through.</summary>
    private static void Warn(PSModuleInfo module, string message)
    {
        var state = module.SessionState;
        if (state?.PSVariable.GetValue("WarningPreference") is ActionPreference.SilentlyContinue or ActionPreference.Ignore)
        {
            return;
        }

        if (state?.PSVariable.GetValue("Host") is System.Management.Automation.Host.PSHost { UI: { } ui })
        {
            ui.WriteWarningLine(message);
        }
    }

    private static Assembly? ResolveCore(AssemblyLoadContext defaultContext, AssemblyName name) =>
        name.Name is "NitroEnclave.Core" or "NitroEnclave.Trusted" or "NitroEnclave.Detection" ? PrivateContext.LoadFromAssemblyName(name) : null;

    /// <summary>Resolves every assembly found in deps/ from there; the rest (the framework, PowerShell) from the default context.</summary>
    private sealed class DependencyLoadContext(string directory) : AssemblyLoadContext("NitroEnclave", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var candidate = Path.Combine(directory, assemblyName.Name + ".dll");
            return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
        }
    }
}
