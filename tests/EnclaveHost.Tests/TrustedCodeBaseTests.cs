using System.Text.Json;

namespace NitroEnclave.EnclaveHost.Tests;

/// <summary>
/// The enclave server links only the trusted code base (docs/threat-model.md): its own project, NitroEnclave.Trusted,
/// NitroEnclave.Detection and the packages they need. Module-only code (NitroEnclave.Core: key policy, allocator,
/// nitro-cli, process hosting, the simulation's launcher) and its packages (YamlDotNet) must never reach it.
/// </summary>
public sealed class TrustedCodeBaseTests
{
    private static readonly string[] AllowedLibraries =
    [
        "EnclaveHost",
        "NitroEnclave.Trusted",
        "NitroEnclave.Detection",
        "AWSSDK.Core",
        "AWSSDK.KeyManagementService",
        "Microsoft.ML.OnnxRuntime",
        "Microsoft.ML.OnnxRuntime.Managed",
        "StbImageSharp",
        "StbImageWriteSharp",
        "System.Formats.Cbor",
        "System.IO.Hashing",
        "System.Numerics.Tensors",
    ];

    [Fact]
    public void The_server_depends_on_nothing_beyond_the_trusted_code_base()
    {
        var libraries = ServerLibraries();
        Assert.Contains("NitroEnclave.Trusted", libraries);
        Assert.DoesNotContain("NitroEnclave.Core", libraries);
        Assert.DoesNotContain("YamlDotNet", libraries);
        Assert.Empty(libraries.Except(AllowedLibraries, StringComparer.Ordinal));
    }

    [Fact]
    public void The_server_assemblies_reference_no_module_assembly()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<System.Reflection.Assembly>([typeof(EnclaveServer).Assembly]);
        while (pending.TryPop(out var assembly))
        {
            foreach (var reference in assembly.GetReferencedAssemblies())
            {
                if (reference.Name is { } name && name.StartsWith("NitroEnclave", StringComparison.Ordinal) && seen.Add(name))
                {
                    pending.Push(System.Reflection.Assembly.Load(reference));
                }
            }
        }

        Assert.Equal(["NitroEnclave.Detection", "NitroEnclave.Trusted"], seen.Order(StringComparer.Ordinal));
    }

    /// <summary>Every library in the server's dependency manifest (copied beside the tests), project references and packages alike.</summary>
    private static List<string> ServerLibraries()
    {
        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "EnclaveHost.deps.json")));
        var target = deps.RootElement.GetProperty("targets").EnumerateObject().First().Value;
        return target.EnumerateObject().Select(library => library.Name.Split('/')[0]).ToList();
    }
}
