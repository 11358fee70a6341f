using NitroEnclave.Allocator;

namespace NitroEnclave.Tests.Allocator;

public sealed class AllocatorValidatorTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("alloc-validate-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>8 CPUs: 4 cores of 2 threads; CPU 0 shares its core with CPU 4. Cores 0-1 on node 0, 2-3 on node 1.</summary>
    private CpuTopology Host() => CpuTopology.Read(FakeSysTree.Create(_dir.FullName, cores: 4, threadsPerCore: 2, nodes: 2))!;

    private static IReadOnlyList<AllocatorFinding> Check(string yaml, CpuTopology? topology, string[] setByCall, long? imageSize = null) =>
        AllocatorValidator.Validate(AllocatorDocument.Parse(yaml), topology, setByCall.ToHashSet(), imageSize);

    [Fact]
    public void Topology_is_read_from_the_fake_sys_tree()
    {
        var host = Host();

        Assert.Equal(8, host.CpuCount);
        Assert.Equal(2, host.ThreadsPerCore);
        Assert.Equal([0, 4], host.SiblingsOf(0));
        Assert.Equal([3, 7], host.SiblingsOf(7));
        Assert.Equal(0, host.NodeOf(5));
        Assert.Equal(1, host.NodeOf(6));
        Assert.Null(CpuTopology.Read(Path.Combine(_dir.FullName, "nowhere")));
    }

    [Fact]
    public void A_valid_file_has_no_findings()
    {
        Assert.Empty(Check("memory_mib: 512\ncpu_count: 2\n", Host(), []));
        Assert.Empty(Check("memory_mib: 512\ncpu_pool: 2,6\n", Host(), []));
        Assert.Empty(Check("memory_mib: 512\ncpu_count: 6\n", Host(), []));
    }

    [Theory]
    [InlineData("cpu_count: 2\n", AllocatorErrors.MemoryMissing, "memory_mib")]
    [InlineData("memory_mib: 0\ncpu_count: 2\n", AllocatorErrors.MemoryInvalid, "memory_mib")]
    [InlineData("memory_mib: -5\ncpu_count: 2\n", AllocatorErrors.MemoryInvalid, "memory_mib")]
    [InlineData("memory_mib: lots\ncpu_count: 2\n", AllocatorErrors.MemoryInvalid, "memory_mib")]
    [InlineData("memory_mib: 512\n", AllocatorErrors.CpuMissing, "cpu_count")]
    [InlineData("memory_mib: 512\ncpu_count: 2\ncpu_pool: 2,6\n", AllocatorErrors.CpuConflict, "cpu_count")]
    [InlineData("memory_mib: 512\ncpu_count: 0\n", AllocatorErrors.CpuCountInvalid, "cpu_count")]
    [InlineData("memory_mib: 512\ncpu_count: 3\n", AllocatorErrors.CpuCountNotWholeCores, "cpu_count")]
    [InlineData("memory_mib: 512\ncpu_count: 8\n", AllocatorErrors.CpuCountTooLarge, "cpu_count")]
    [InlineData("memory_mib: 512\ncpu_pool: 2-\n", AllocatorErrors.CpuPoolSyntax, "cpu_pool")]
    [InlineData("memory_mib: 512\ncpu_pool: 0,1,5\n", AllocatorErrors.CpuPoolIncludesCpu0, "cpu_pool")]
    [InlineData("memory_mib: 512\ncpu_pool: 1,4,5\n", AllocatorErrors.CpuPoolIncludesCpu0, "cpu_pool")]
    [InlineData("memory_mib: 512\ncpu_pool: 1,5,9\n", AllocatorErrors.CpuPoolOffline, "cpu_pool")]
    [InlineData("memory_mib: 512\ncpu_pool: 1\n", AllocatorErrors.CpuPoolPartialCore, "cpu_pool")]
    [InlineData("memory_mib: 512\ncpu_pool: 1,2,5,6\n", AllocatorErrors.CpuPoolMultipleNodes, "cpu_pool")]
    [InlineData("memory_mib: 512\ncpu_count: 2\nextra: 1\n", AllocatorErrors.UnknownKey, "extra")]
    [InlineData("memory_mib: 512\ncpu_count: 2\ncpu_count: 2\n", AllocatorErrors.DuplicateKey, "cpu_count")]
    public void Each_rule_has_its_own_id_and_is_an_error_only_for_keys_the_call_sets(string yaml, string errorId, string key)
    {
        var asWarning = Check(yaml, Host(), []);
        var asError = Check(yaml, Host(), [key]);

        var warning = Assert.Single(asWarning);
        Assert.Equal(errorId, warning.ErrorId);
        Assert.Equal(key, warning.Key);
        Assert.Equal(AllocatorFindingSeverity.Warning, warning.Severity);
        Assert.Equal(AllocatorFindingSeverity.Error, Assert.Single(asError).Severity);
    }

    [Fact]
    public void Single_thread_cores_allow_odd_counts_and_single_cpus()
    {
        var host = CpuTopology.Read(FakeSysTree.Create(_dir.FullName, cores: 4, threadsPerCore: 1))!;

        Assert.Empty(Check("memory_mib: 512\ncpu_count: 3\n", host, ["cpu_count"]));
        Assert.Empty(Check("memory_mib: 512\ncpu_pool: 1\n", host, ["cpu_pool"]));
        Assert.Equal(AllocatorErrors.CpuCountTooLarge, Assert.Single(Check("memory_mib: 512\ncpu_count: 4\n", host, [])).ErrorId);
    }

    [Fact]
    public void Without_topology_cpu_checks_needing_it_become_one_finding()
    {
        var findings = Check("memory_mib: 512\ncpu_count: 2\n", null, ["cpu_count"]);

        var finding = Assert.Single(findings);
        Assert.Equal(AllocatorErrors.TopologyUnavailable, finding.ErrorId);
        Assert.Equal(AllocatorFindingSeverity.Error, finding.Severity);
    }

    [Fact]
    public void Memory_under_four_times_the_image_is_a_warning_even_when_set()
    {
        const long image = (300L << 20) + 1;

        var findings = Check("memory_mib: 1200\ncpu_count: 2\n", Host(), ["memory_mib"], image);

        var finding = Assert.Single(findings);
        Assert.Equal(AllocatorErrors.MemoryBelowImage, finding.ErrorId);
        Assert.Equal(AllocatorFindingSeverity.Warning, finding.Severity);
        Assert.Contains("1201 MiB", finding.Message, StringComparison.Ordinal);
        Assert.Empty(Check("memory_mib: 1201\ncpu_count: 2\n", Host(), [], image));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(256L << 20, 1024)]
    [InlineData((256L << 20) + 1, 1025)]
    public void Minimum_memory_is_four_times_the_image_rounded_up_to_a_MiB(long size, long expected)
    {
        Assert.Equal(expected, AllocatorValidator.MinimumMemoryMiB(size));
    }
}
