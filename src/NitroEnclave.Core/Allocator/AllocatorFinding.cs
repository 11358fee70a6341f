using System.Globalization;

namespace NitroEnclave.Allocator;

public enum AllocatorFindingSeverity
{
    Warning,
    Error,
}

/// <summary>One problem the allocator service would have with a setting (or a caution about it).</summary>
public sealed class AllocatorFinding
{
    public AllocatorFinding(string errorId, string key, AllocatorFindingSeverity severity, string message)
    {
        ErrorId = errorId;
        Key = key;
        Severity = severity;
        Message = message;
    }

    /// <summary>A stable id from <see cref="AllocatorErrors"/>.</summary>
    public string ErrorId { get; }

    /// <summary>The setting concerned: memory_mib, cpu_count or cpu_pool (or the unknown key's name).</summary>
    public string Key { get; }

    /// <summary>Error for a value the current call sets (nothing is written); Warning for settings it leaves alone.</summary>
    public AllocatorFindingSeverity Severity { get; }

    public string Message { get; }

    public override string ToString() => $"{Severity} {ErrorId}: {Message}";
}

/// <summary>The settings of an allocator.yaml with what validation found about them.</summary>
public sealed class AllocatorSettings
{
    internal AllocatorSettings(string? path, int? memoryMiB, int? cpuCount, string? cpuPool, IReadOnlyList<AllocatorFinding> findings, bool changed, string? backupPath)
    {
        Path = path;
        MemoryMiB = memoryMiB;
        CpuCount = cpuCount;
        CpuPool = cpuPool;
        Findings = findings;
        Changed = changed;
        BackupPath = backupPath;
    }

    public string? Path { get; }

    /// <summary>memory_mib; null when absent or not a whole number.</summary>
    public int? MemoryMiB { get; }

    /// <summary>cpu_count; null when absent or not a whole number.</summary>
    public int? CpuCount { get; }

    /// <summary>cpu_pool as written in the file; null when absent.</summary>
    public string? CpuPool { get; }

    public IReadOnlyList<AllocatorFinding> Findings { get; }

    /// <summary>True when this call rewrote the file.</summary>
    public bool Changed { get; }

    /// <summary>The copy of the previous file this call made; null when nothing was written.</summary>
    public string? BackupPath { get; }

    /// <summary>For example "/etc/nitro_enclaves/allocator.yaml: memory_mib 512, cpu_count 2, 1 finding".</summary>
    public override string ToString()
    {
        var parts = new List<string> { "memory_mib " + Show(MemoryMiB) };
        if (CpuCount is not null || CpuPool is null)
        {
            parts.Add("cpu_count " + Show(CpuCount));
        }

        if (CpuPool is not null)
        {
            parts.Add("cpu_pool " + CpuPool);
        }

        parts.Add(Findings.Count == 1 ? "1 finding" : Findings.Count.ToString(CultureInfo.InvariantCulture) + " findings");
        return $"{Path ?? "allocator.yaml"}: {string.Join(", ", parts)}";

        static string Show(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "unset";
    }
}
