using System.Globalization;

namespace NitroEnclave.Allocator;

/// <summary>
/// The host's CPU layout as Linux reports it under /sys/devices/system/cpu: which CPUs are online, which hardware
/// threads share a core, and each CPU's NUMA node. Read from a configurable root so tests can use a fake tree.
/// </summary>
public sealed class CpuTopology
{
    private readonly Dictionary<int, SortedSet<int>> _siblings;
    private readonly Dictionary<int, int> _nodes;

    public CpuTopology(IEnumerable<int> online, IReadOnlyDictionary<int, IEnumerable<int>> siblings, IReadOnlyDictionary<int, int> nodes)
    {
        ArgumentNullException.ThrowIfNull(online);
        ArgumentNullException.ThrowIfNull(siblings);
        ArgumentNullException.ThrowIfNull(nodes);
        Online = new SortedSet<int>(online);
        _siblings = Online.ToDictionary(cpu => cpu, cpu => new SortedSet<int>(siblings.TryGetValue(cpu, out var s) ? s.Append(cpu) : [cpu]));
        _nodes = Online.ToDictionary(cpu => cpu, cpu => nodes.TryGetValue(cpu, out var n) ? n : 0);
    }

    /// <summary>The online CPUs.</summary>
    public IReadOnlySet<int> Online { get; }

    public int CpuCount => Online.Count;

    /// <summary>Hardware threads per core, taken from CPU 0's core (the allocator assumes a uniform host).</summary>
    public int ThreadsPerCore => SiblingsOf(FirstCpu).Count;

    /// <summary>The lowest online CPU (CPU 0 on every real host): its core always stays with the parent.</summary>
    public int FirstCpu => Online.Count == 0 ? 0 : Online.Min();

    /// <summary>The CPUs sharing a core with <paramref name="cpu"/>, itself included.</summary>
    public IReadOnlySet<int> SiblingsOf(int cpu) => _siblings.TryGetValue(cpu, out var s) ? s : new SortedSet<int> { cpu };

    public int NodeOf(int cpu) => _nodes.TryGetValue(cpu, out var node) ? node : 0;

    /// <summary>
    /// Reads the topology under <paramref name="sysRoot"/> ("/" on a real host). Returns null when the tree has no
    /// online CPU list (not Linux, or a container without /sys).
    /// </summary>
    public static CpuTopology? Read(string sysRoot)
    {
        ArgumentNullException.ThrowIfNull(sysRoot);
        var cpuDirectory = Path.Combine(sysRoot, "sys", "devices", "system", "cpu");
        var onlineFile = Path.Combine(cpuDirectory, "online");
        if (!File.Exists(onlineFile))
        {
            return null;
        }

        var online = CpuList.TryParse(File.ReadAllText(onlineFile).Trim())
            ?? throw new NitroEnclaveException(AllocatorErrors.TopologyUnavailable, ErrorKind.InvalidData, $"'{onlineFile}' is not a CPU list.");
        var siblings = new Dictionary<int, IEnumerable<int>>();
        var nodes = new Dictionary<int, int>();
        foreach (var cpu in online)
        {
            var directory = Path.Combine(cpuDirectory, "cpu" + cpu.ToString(CultureInfo.InvariantCulture));
            var siblingsFile = Path.Combine(directory, "topology", "thread_siblings_list");
            if (File.Exists(siblingsFile) && CpuList.TryParse(File.ReadAllText(siblingsFile).Trim()) is { } list)
            {
                siblings[cpu] = list;
            }

            if (Directory.Exists(directory))
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "node*"))
                {
                    if (int.TryParse(Path.GetFileName(entry)[4..], NumberStyles.None, CultureInfo.InvariantCulture, out var node))
                    {
                        nodes[cpu] = node;
                    }
                }
            }
        }

        return new CpuTopology(online, siblings, nodes);
    }
}
