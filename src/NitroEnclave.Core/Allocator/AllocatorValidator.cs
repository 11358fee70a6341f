using System.Globalization;
using static NitroEnclave.Allocator.AllocatorDocument;

namespace NitroEnclave.Allocator;

/// <summary>
/// Checks allocator settings the way nitro-enclaves-allocator.service does before it reserves memory and CPUs.
/// A finding is an error when the current call sets the value concerned, otherwise a warning.
/// </summary>
public static class AllocatorValidator
{
    /// <summary>nitro-cli requires enclave memory of at least four times the image file's size.</summary>
    public const int ImageMemoryFactor = 4;

    /// <param name="document">The settings to check (after any edit).</param>
    /// <param name="topology">The host's CPUs; null when /sys could not be read.</param>
    /// <param name="keysSetByCall">The keys the current call sets; their findings are errors.</param>
    /// <param name="imageSize">The size in bytes of an enclave image the memory should fit, if one was given.</param>
    public static IReadOnlyList<AllocatorFinding> Validate(AllocatorDocument document, CpuTopology? topology, IReadOnlySet<string> keysSetByCall, long? imageSize = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(keysSetByCall);
        var findings = new List<AllocatorFinding>();
        void Add(string id, string key, string message) =>
            findings.Add(new AllocatorFinding(id, key, keysSetByCall.Contains(key) ? AllocatorFindingSeverity.Error : AllocatorFindingSeverity.Warning, message));

        foreach (var key in document.UnknownKeys)
        {
            Add(AllocatorErrors.UnknownKey, key, $"'{key}' is not an allocator setting (only memory_mib, cpu_count and cpu_pool are); the service refuses the file.");
        }

        foreach (var key in document.DuplicateKeys)
        {
            Add(AllocatorErrors.DuplicateKey, key, $"'{key}' appears more than once; the service refuses the file.");
        }

        var memory = CheckMemory(document, Add);
        if (memory is { } mib && imageSize is { } size && (long)mib * 1024 * 1024 < size * ImageMemoryFactor)
        {
            findings.Add(new AllocatorFinding(
                AllocatorErrors.MemoryBelowImage,
                MemoryKey,
                AllocatorFindingSeverity.Warning,
                $"memory_mib {mib} is less than {ImageMemoryFactor} times the enclave image ({size:N0} bytes): the image needs at least {MinimumMemoryMiB(size)} MiB."));
        }

        var hasCount = document.Has(CpuCountKey);
        var hasPool = document.Has(CpuPoolKey);
        if (hasCount && hasPool)
        {
            Add(AllocatorErrors.CpuConflict, keysSetByCall.Contains(CpuPoolKey) ? CpuPoolKey : CpuCountKey, "cpu_count and cpu_pool are both set; the service accepts exactly one of them.");
        }
        else if (!hasCount && !hasPool)
        {
            Add(AllocatorErrors.CpuMissing, CpuCountKey, "Neither cpu_count nor cpu_pool is set; the service needs exactly one of them.");
        }

        if (hasCount)
        {
            CheckCpuCount(document.ValueOf(CpuCountKey), topology, Add);
        }

        if (hasPool)
        {
            CheckCpuPool(document.ValueOf(CpuPoolKey), topology, Add);
        }

        return findings;
    }

    /// <summary>The smallest memory, in MiB, nitro-cli accepts for an image of <paramref name="imageSize"/> bytes.</summary>
    public static long MinimumMemoryMiB(long imageSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(imageSize);
        const long MiB = 1024 * 1024;
        return ((imageSize * ImageMemoryFactor) + MiB - 1) / MiB;
    }

    internal static int? ParsePositive(string? text) =>
        text is { Length: > 0 and <= 9 } && text.All(char.IsAsciiDigit) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : null;

    private static int? CheckMemory(AllocatorDocument document, Action<string, string, string> add)
    {
        if (!document.Has(MemoryKey))
        {
            add(AllocatorErrors.MemoryMissing, MemoryKey, "memory_mib is missing; the service needs it.");
            return null;
        }

        var value = document.ValueOf(MemoryKey);
        var memory = ParsePositive(value);
        if (memory is null)
        {
            add(AllocatorErrors.MemoryInvalid, MemoryKey, $"memory_mib '{value}' is not a positive whole number of MiB.");
        }

        return memory;
    }

    private static void CheckCpuCount(string? value, CpuTopology? topology, Action<string, string, string> add)
    {
        if (ParsePositive(value) is not { } count)
        {
            add(AllocatorErrors.CpuCountInvalid, CpuCountKey, $"cpu_count '{value}' is not a positive whole number.");
            return;
        }

        if (topology is null)
        {
            add(AllocatorErrors.TopologyUnavailable, CpuCountKey, "The host's CPU topology (/sys/devices/system/cpu) cannot be read, so cpu_count cannot be checked against it.");
            return;
        }

        var threads = topology.ThreadsPerCore;
        if (count % threads != 0)
        {
            add(AllocatorErrors.CpuCountNotWholeCores, CpuCountKey, $"cpu_count {count} is not a multiple of the host's {threads} threads per core; enclaves get whole cores.");
        }

        // CPU 0 and its siblings always stay with the parent instance.
        var available = topology.Online.Except(topology.SiblingsOf(topology.FirstCpu)).Count();
        if (count > available)
        {
            add(AllocatorErrors.CpuCountTooLarge, CpuCountKey, $"cpu_count {count} leaves the parent too little: the host has {topology.CpuCount} CPUs and at most {available} can go to enclaves (CPU 0's core stays with the parent).");
        }
    }

    private static void CheckCpuPool(string? value, CpuTopology? topology, Action<string, string, string> add)
    {
        if (CpuList.TryParse(value) is not { } pool)
        {
            add(AllocatorErrors.CpuPoolSyntax, CpuPoolKey, $"cpu_pool '{value}' is not a CPU list such as 2,3,6-9.");
            return;
        }

        if (pool.Contains(0))
        {
            add(AllocatorErrors.CpuPoolIncludesCpu0, CpuPoolKey, "cpu_pool includes CPU 0, which always stays with the parent instance.");
        }

        if (topology is null)
        {
            add(AllocatorErrors.TopologyUnavailable, CpuPoolKey, "The host's CPU topology (/sys/devices/system/cpu) cannot be read, so cpu_pool cannot be checked against it.");
            return;
        }

        var offline = pool.Where(cpu => !topology.Online.Contains(cpu)).ToList();
        if (offline.Count > 0)
        {
            add(AllocatorErrors.CpuPoolOffline, CpuPoolKey, $"cpu_pool names CPUs the host does not have online: {CpuList.Format(offline)} (online: {CpuList.Format(topology.Online)}).");
            return;
        }

        var parentCore = topology.SiblingsOf(topology.FirstCpu);
        var cpu0Siblings = parentCore.Where(cpu => cpu != 0 && pool.Contains(cpu)).ToList();
        if (cpu0Siblings.Count > 0)
        {
            add(AllocatorErrors.CpuPoolIncludesCpu0, CpuPoolKey, $"cpu_pool includes {CpuList.Format(cpu0Siblings)}, sharing a core with CPU 0, which stays with the parent instance.");
        }

        // CPU 0's core is reported above; completing it would be wrong advice.
        var missingSiblings = pool.Where(cpu => !parentCore.Contains(cpu))
            .SelectMany(cpu => topology.SiblingsOf(cpu)).Where(cpu => !pool.Contains(cpu)).Distinct().ToList();
        if (missingSiblings.Count > 0)
        {
            add(AllocatorErrors.CpuPoolPartialCore, CpuPoolKey, $"cpu_pool takes only part of some cores: add their sibling threads {CpuList.Format(missingSiblings)} (enclaves get whole cores).");
        }

        var nodes = pool.Select(topology.NodeOf).Distinct().Order().ToList();
        if (nodes.Count > 1)
        {
            add(AllocatorErrors.CpuPoolMultipleNodes, CpuPoolKey, $"cpu_pool spans NUMA nodes {string.Join(", ", nodes)}; the enclave's memory is reserved on one node, so its CPUs must share it.");
        }
    }
}
