using System.Management.Automation;
using NitroEnclave.Tests;

namespace NitroEnclave.PowerShell.Tests;

[Collection(ProcessEnvironmentGroup.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class EnclaveAllocatorCommandTests : IDisposable
{
    private readonly FakeTools _tools = new();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("alloc-ps-");
    private readonly string _path;
    private readonly string _original;

    public EnclaveAllocatorCommandTests()
    {
        _path = Path.Combine(_dir.FullName, "allocator.yaml");
        File.Copy(Path.Combine(ModuleHost.RepositoryRoot, "tests", "data", "allocator", "allocator.default.yaml"), _path);
        _original = File.ReadAllText(_path);
        // 8 CPUs: 4 cores of 2 threads (CPU 0 with CPU 4); cores 0-1 on NUMA node 0, cores 2-3 on node 1.
        FakeSysTree.Create(Path.Combine(_dir.FullName, "root"), cores: 4, threadsPerCore: 2, nodes: 2);
    }

    public void Dispose()
    {
        _dir.Delete(recursive: true);
        _tools.Dispose();
    }

    private ScriptResult Run(string arguments, string command = "Set-EnclaveAllocator") =>
        ModuleHost.Run($"{command} -Path $p -SysRoot $root {arguments}", new Dictionary<string, object?>
        {
            ["p"] = _path,
            ["root"] = Path.Combine(_dir.FullName, "root"),
            ["image"] = Path.Combine(_dir.FullName, "app.eif"),
        });

    /// <summary>Formatted output without the console's colour escape sequences.</summary>
    private static string PlainText(string text) => System.Text.RegularExpressions.Regex.Replace(text, "\u001b\\[[0-9;]*m", string.Empty);

    private string[] OtherFiles() => _dir.GetFiles().Select(f => f.Name).Where(n => n != "allocator.yaml").Order().ToArray();

    [Fact]
    public void Get_EnclaveAllocator_reads_the_default_file()
    {
        var result = Run(string.Empty, "Get-EnclaveAllocator").AssertNoErrors();

        var settings = Assert.Single(result.Output);
        Assert.Equal("NitroEnclave.Allocator.AllocatorSettings", settings.BaseObject.GetType().FullName);
        Assert.Equal(512, settings.Properties["MemoryMiB"].Value);
        Assert.Equal(2, settings.Properties["CpuCount"].Value);
        Assert.Null(settings.Properties["CpuPool"].Value);
        Assert.Equal(_path, settings.Properties["Path"].Value);
        Assert.Empty((System.Collections.ICollection)settings.Properties["Findings"].Value);
        var text = PlainText(result.FormattedText);
        Assert.Contains("MemoryMiB : 512", text, StringComparison.Ordinal);
        Assert.Contains("CpuCount  : 2", text, StringComparison.Ordinal);
        Assert.Contains("Findings  : none", text, StringComparison.Ordinal);
        Assert.DoesNotContain("CpuPool", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_EnclaveAllocator_lists_findings_as_objects_without_failing()
    {
        File.WriteAllText(_path, "memory_mib: 512\ncpu_count: 3\ncpu_pool: 1\n");

        var result = Run(string.Empty, "Get-EnclaveAllocator").AssertNoErrors();

        var findings = ((System.Collections.IEnumerable)result.Output.Single().Properties["Findings"].Value).Cast<object>().Select(f => PSObject.AsPSObject(f).Properties["ErrorId"].Value).ToList();
        Assert.Equal(["AllocatorCpuConflict", "AllocatorCpuCountNotWholeCores", "AllocatorCpuPoolPartialCore"], findings);
        Assert.Contains("Warning AllocatorCpuConflict", PlainText(result.FormattedText), StringComparison.Ordinal);
    }

    [Fact]
    public void Setting_the_memory_changes_only_that_line_and_keeps_a_backup()
    {
        var result = Run("-MemoryMiB 2048 -PassThru").AssertNoErrors();

        var edited = File.ReadAllText(_path);
        var (removed, added) = LineChanges.Of(_original, edited);
        Assert.Equal(["memory_mib: 512"], removed);
        Assert.Equal(["memory_mib: 2048"], added);
        Assert.Equal(_original.Split('\n').Length, edited.Split('\n').Length);
        var settings = Assert.Single(result.Output);
        Assert.Equal(true, settings.Properties["Changed"].Value);
        Assert.Equal(2048, settings.Properties["MemoryMiB"].Value);
        var backup = (string)settings.Properties["BackupPath"].Value;
        Assert.Equal(_original, File.ReadAllText(backup));
        Assert.Matches(@"^allocator\.yaml\.\d{8}T\d{6}Z\.bak$", Assert.Single(OtherFiles()));
    }

    [Fact]
    public void Running_twice_changes_nothing_the_second_time_and_says_so()
    {
        Run("-MemoryMiB 2048 -CpuPool 2,6").AssertNoErrors();
        var afterFirst = File.ReadAllText(_path);
        var backups = OtherFiles();

        var second = Run("-MemoryMiB 2048 -CpuPool 6,2 -PassThru -Verbose 4>&1").AssertNoErrors();

        Assert.Equal(afterFirst, File.ReadAllText(_path));
        Assert.Equal(backups, OtherFiles());
        Assert.Contains(second.Output, o => o.BaseObject is VerboseRecord v && v.Message.Contains("nothing to change", StringComparison.Ordinal));
        Assert.Equal(false, second.Output.Single(o => o.BaseObject is not VerboseRecord).Properties["Changed"].Value);
    }

    [Fact]
    public void WhatIf_shows_the_line_diff_and_writes_nothing()
    {
        var result = Run("-MemoryMiB 1024 -CpuPool 2,6 -WhatIf").AssertNoErrors();

        Assert.Equal(_original, File.ReadAllText(_path));
        Assert.Empty(OtherFiles());
        Assert.Contains("What if: Change '" + _path + "'", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("-   5: memory_mib: 512", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("+   5: memory_mib: 1024", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("+   8: # cpu_count: 2", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("+   9: cpu_pool: 2,6", result.FormattedText, StringComparison.Ordinal);
    }

    [Fact]
    public void Switching_to_a_pool_and_back_keeps_every_comment()
    {
        Run("-CpuPool 2,6").AssertNoErrors();
        var pool = File.ReadAllText(_path);
        Run("-CpuCount 4").AssertNoErrors();
        var count = File.ReadAllText(_path);

        Assert.Equal(["cpu_count: 2"], LineChanges.Of(_original, pool).Removed);
        Assert.Equal(["# cpu_count: 2", "cpu_pool: 2,6"], LineChanges.Of(_original, pool).Added);
        Assert.Contains("# cpu_count: 2\ncpu_pool: 2,6\n", pool, StringComparison.Ordinal);
        Assert.Equal(["cpu_count: 2"], LineChanges.Of(_original, count).Removed);
        Assert.Equal(["cpu_count: 4", "# cpu_pool: 2,6"], LineChanges.Of(_original, count).Added);
        var comments = _original.Split('\n').Where(l => l.StartsWith('#'));
        Assert.All(comments, line => Assert.Contains(line, count.Split('\n')));
    }

    [Theory]
    [InlineData("-MemoryMiB 0", "AllocatorMemoryInvalid")]
    [InlineData("-MemoryMiB -1", "AllocatorMemoryInvalid")]
    [InlineData("-CpuCount 0", "AllocatorCpuCountInvalid")]
    [InlineData("-CpuCount 3", "AllocatorCpuCountNotWholeCores")]
    [InlineData("-CpuCount 8", "AllocatorCpuCountTooLarge")]
    [InlineData("-CpuPool 2-", "AllocatorCpuPoolSyntax")]
    [InlineData("-CpuPool 0,1,5", "AllocatorCpuPoolIncludesCpu0")]
    [InlineData("-CpuPool 1,4,5", "AllocatorCpuPoolIncludesCpu0")]
    [InlineData("-CpuPool 9,10", "AllocatorCpuPoolOffline")]
    [InlineData("-CpuPool 1", "AllocatorCpuPoolPartialCore")]
    [InlineData("-CpuPool 1,2,5,6", "AllocatorCpuPoolMultipleNodes")]
    [InlineData("", "AllocatorNothingToSet")]
    [InlineData("-MemoryMiB 1024 -ImagePath $image", "EnclaveImageNotFound")]
    public void An_invalid_value_is_an_error_with_its_id_and_nothing_is_written(string arguments, string errorId)
    {
        var before = File.ReadAllBytes(_path);

        var result = Run(arguments);

        Assert.Equal([errorId], result.ErrorIds);
        Assert.Equal(before, File.ReadAllBytes(_path));
        Assert.Empty(OtherFiles());
        Assert.EndsWith(errorId == "EnclaveImageNotFound" ? "app.eif" : "allocator.yaml", (string)result.Errors[0].TargetObject, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_with_settings_the_call_leaves_alone_are_warnings()
    {
        File.WriteAllText(_path, "# host notes\nmemory_mib: 512\ncpu_count: 3\n");

        var result = Run("-MemoryMiB 1024").AssertNoErrors();

        Assert.Equal("# host notes\nmemory_mib: 1024\ncpu_count: 3\n", File.ReadAllText(_path));
        Assert.Contains("AllocatorCpuCountNotWholeCores", Assert.Single(result.Warnings).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Memory_below_four_times_the_image_is_a_warning()
    {
        File.WriteAllBytes(Path.Combine(_dir.FullName, "app.eif"), new byte[300 << 20 >> 4]);

        var low = Run("-MemoryMiB 64 -ImagePath $image").AssertNoErrors();
        var enough = Run("-MemoryMiB 75 -ImagePath $image").AssertNoErrors();

        Assert.Contains("at least 75 MiB", Assert.Single(low.Warnings).Message, StringComparison.Ordinal);
        Assert.Empty(enough.Warnings);
        Assert.Contains("memory_mib: 75", File.ReadAllText(_path), StringComparison.Ordinal);
    }

    [Fact]
    public void CpuCount_and_CpuPool_are_mutually_exclusive_parameter_sets()
    {
        var result = Run("-CpuCount 2 -CpuPool 2,6");

        Assert.Equal(["AmbiguousParameterSet"], result.ErrorIds);
        Assert.Equal(_original, File.ReadAllText(_path));
    }

    [Fact]
    public void A_missing_or_unparsable_file_is_reported_by_id()
    {
        File.WriteAllText(_path, "memory_mib: [1\n");

        var invalid = Run("-MemoryMiB 1024");
        var missing = ModuleHost.Run("Get-EnclaveAllocator -Path $p", new Dictionary<string, object?> { ["p"] = _path + ".missing" });

        Assert.Equal(["AllocatorFileInvalid"], invalid.ErrorIds);
        Assert.Equal("memory_mib: [1\n", File.ReadAllText(_path));
        Assert.Equal(["AllocatorFileNotFound"], missing.ErrorIds);
    }

    [Fact]
    public void Restart_restarts_the_allocator_service_after_writing()
    {
        Run("-MemoryMiB 1024 -Restart").AssertNoErrors();

        Assert.Equal(["restart nitro-enclaves-allocator.service"], File.ReadAllLines(_tools.SystemctlLog));
        Assert.Contains("memory_mib: 1024", File.ReadAllText(_path), StringComparison.Ordinal);
    }

    [Fact]
    public void Restart_under_WhatIf_runs_nothing()
    {
        var result = Run("-MemoryMiB 1024 -Restart -WhatIf").AssertNoErrors();

        Assert.False(File.Exists(_tools.SystemctlLog));
        Assert.Contains("What if: Performing the operation \"Restart\" on target \"nitro-enclaves-allocator.service\"", result.FormattedText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("missing-unit", "AllocatorServiceNotFound")]
    [InlineData("fail", "AllocatorRestartFailed")]
    [InlineData("no-systemctl", "SystemctlNotFound")]
    public void Restart_failures_are_clear_errors(string mode, string errorId)
    {
        if (mode == "no-systemctl")
        {
            Environment.SetEnvironmentVariable("PATH", _tools.EmptyBin);
        }
        else
        {
            Environment.SetEnvironmentVariable("FAKE_SYSTEMCTL_MODE", mode);
        }

        var result = Run("-MemoryMiB 1024 -Restart");

        Assert.Equal([errorId], result.ErrorIds);
        Assert.Equal("nitro-enclaves-allocator.service", result.Errors[0].TargetObject);
        Assert.Contains("memory_mib: 1024", File.ReadAllText(_path), StringComparison.Ordinal);
    }
}
