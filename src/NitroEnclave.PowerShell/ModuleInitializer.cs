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

    /// <summary>Removing the module stops the session's enclave simulation, as ending the session does.</summary>
    public void OnRemove(PSModuleInfo psModuleInfo) => StopSimulation();

    // Kept apart so the Core types it touches load only after OnImport registered the resolver.
    private static void StopSimulation() => Commands.SimulationRegistry.Stop(System.Management.Automation.Runspaces.Runspace.DefaultRunspace);

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
