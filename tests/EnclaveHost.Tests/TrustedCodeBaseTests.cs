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

    [Fact]
    public void The_threat_model_lists_every_source_file_of_the_trusted_code_base()
    {
        var root = RepositoryRoot();
        var document = File.ReadAllText(Path.Combine(root, "docs", "threat-model.md"));
        var begin = document.IndexOf("<!-- trusted-code-base:begin -->", StringComparison.Ordinal);
        var end = document.IndexOf("<!-- trusted-code-base:end -->", StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "docs/threat-model.md has no trusted code base section");
        var rows = System.Text.RegularExpressions.Regex.Matches(document[begin..end], @"^\| `([^`]+)` \| (\d+) \|$", System.Text.RegularExpressions.RegexOptions.Multiline);
        var listed = rows.Select(r => r.Groups[1].Value).ToList();
        var actual = new[] { "src/EnclaveHost", "src/NitroEnclave.Trusted", "src/NitroEnclave.Detection" }
            .SelectMany(project => Directory.EnumerateFiles(Path.Combine(root, project), "*.cs", SearchOption.AllDirectories))
            .Select(file => Path.GetRelativePath(root, file).Replace('\\', '/'))
            .Where(file => !file.Contains("/obj/", StringComparison.Ordinal) && !file.Contains("/bin/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(actual.SequenceEqual(listed.Order(StringComparer.Ordinal)),
            "docs/threat-model.md is out of date: run ./scripts/trusted-code-base.sh and paste its output between the markers. "
            + $"Not listed: {string.Join(", ", actual.Except(listed))}; listed but gone: {string.Join(", ", listed.Except(actual))}.");

        // Line counts drift with every edit; the listed total must stay close enough to tell an auditor the truth.
        var listedLines = rows.Sum(r => int.Parse(r.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        var actualLines = actual.Sum(file => File.ReadLines(Path.Combine(root, file)).Count());
        Assert.InRange(listedLines, actualLines * 0.85, actualLines * 1.15);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "NitroEnclave.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("The tests do not run inside the repository.");
    }

    /// <summary>Every library in the server's dependency manifest (copied beside the tests), project references and packages alike.</summary>
    private static List<string> ServerLibraries()
    {
        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "EnclaveHost.deps.json")));
        var target = deps.RootElement.GetProperty("targets").EnumerateObject().First().Value;
        return target.EnumerateObject().Select(library => library.Name.Split('/')[0]).ToList();
    }
}
