using System.Globalization;

namespace NitroEnclave.Tests;

/// <summary>
/// Writes the part of /sys/devices/system/cpu the allocator reads, numbered as Linux numbers x86 hosts: thread k of
/// core c is CPU c + k * cores, so on a 2-core, 2-thread host CPUs 0 and 2 share a core.
/// </summary>
public static class FakeSysTree
{
    public static string Create(string root, int cores, int threadsPerCore, int nodes = 1)
    {
        var cpuDirectory = Path.Combine(root, "sys", "devices", "system", "cpu");
        Directory.CreateDirectory(cpuDirectory);
        var count = cores * threadsPerCore;
        File.WriteAllText(Path.Combine(cpuDirectory, "online"), $"0-{count - 1}\n");
        for (var cpu = 0; cpu < count; cpu++)
        {
            var core = cpu % cores;
            var siblings = string.Join(',', Enumerable.Range(0, threadsPerCore).Select(k => (core + (k * cores)).ToString(CultureInfo.InvariantCulture)));
            var directory = Path.Combine(cpuDirectory, "cpu" + cpu.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(Path.Combine(directory, "topology"));
            File.WriteAllText(Path.Combine(directory, "topology", "thread_siblings_list"), siblings + "\n");
            Directory.CreateDirectory(Path.Combine(directory, "node" + (core * nodes / cores).ToString(CultureInfo.InvariantCulture)));
        }

        return root;
    }
}
