namespace NitroEnclave.PowerShell.Tests;

/// <summary>
/// Tests that change the process environment (PATH and the test doubles' settings) run alone: child processes
/// inherit that environment, and no other test may see it half-changed.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentGroup
{
    public const string Name = "ProcessEnvironment";
}

/// <summary>
/// Puts the test doubles of nitro-cli and systemctl (tests/data/fake-*) first on PATH, each in a fresh directory with
/// its own state, and restores the environment afterwards.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FakeTools : IDisposable
{
    private static readonly string[] Variables = ["PATH", "FAKE_NITRO_CLI_STATE", "FAKE_NITRO_CLI_FAIL", "FAKE_SYSTEMCTL_LOG", "FAKE_SYSTEMCTL_MODE"];
    private readonly Dictionary<string, string?> _saved = Variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fake-tools-");

    public FakeTools()
    {
        Bin = Directory.CreateDirectory(Path.Combine(_dir.FullName, "bin")).FullName;
        State = Path.Combine(_dir.FullName, "state");
        EmptyBin = Directory.CreateDirectory(Path.Combine(_dir.FullName, "empty")).FullName;
        SystemctlLog = Path.Combine(_dir.FullName, "systemctl.log");
        foreach (var (folder, name) in new[] { ("fake-nitro-cli", "nitro-cli"), ("fake-systemctl", "systemctl") })
        {
            var target = Path.Combine(Bin, name);
            File.Copy(Path.Combine(ModuleHost.RepositoryRoot, "tests", "data", folder, name), target);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Environment.SetEnvironmentVariable("PATH", Bin + Path.PathSeparator + _saved["PATH"]);
        Environment.SetEnvironmentVariable("FAKE_NITRO_CLI_STATE", State);
        Environment.SetEnvironmentVariable("FAKE_SYSTEMCTL_LOG", SystemctlLog);
        Environment.SetEnvironmentVariable("FAKE_NITRO_CLI_FAIL", null);
        Environment.SetEnvironmentVariable("FAKE_SYSTEMCTL_MODE", null);
    }

    public string Bin { get; }

    public string State { get; }

    /// <summary>A directory with no programs, for PATH when a tool must be missing.</summary>
    public string EmptyBin { get; }

    public string SystemctlLog { get; }

    /// <summary>The argument lists nitro-cli was called with, in order.</summary>
    public IReadOnlyList<string[]> NitroCliCalls()
    {
        var log = Path.Combine(State, "calls.log");
        if (!File.Exists(log))
        {
            return [];
        }

        return File.ReadAllText(log).Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(call => call.Split('\n')).ToList();
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        _dir.Delete(recursive: true);
    }
}

/// <summary>Which lines an edit removed and added (compared as lists of lines, order kept), to check that an edit touched only what it should.</summary>
public static class LineChanges
{
    public static (string[] Removed, string[] Added) Of(string before, string after)
    {
        var removed = new List<string>(before.Split('\n'));
        var added = new List<string>();
        foreach (var line in after.Split('\n'))
        {
            if (!removed.Remove(line))
            {
                added.Add(line);
            }
        }

        return (removed.ToArray(), added.ToArray());
    }
}
