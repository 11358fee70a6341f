using NitroEnclave.Allocator;

namespace NitroEnclave.Tests.Allocator;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AllocatorFileTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("alloc-file-");
    private readonly string _sys;
    private readonly string _path;

    public AllocatorFileTests()
    {
        _sys = FakeSysTree.Create(Path.Combine(_dir.FullName, "root"), cores: 4, threadsPerCore: 2);
        _path = Path.Combine(_dir.FullName, "allocator.yaml");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "data", "allocator", "allocator.default.yaml"), _path);
        File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
    }

    public void Dispose() => _dir.Delete(recursive: true);

    private string[] OtherFiles() => _dir.GetFiles().Select(f => f.Name).Where(n => n != "allocator.yaml").Order().ToArray();

    [Fact]
    public void Commit_backs_up_the_old_file_writes_the_new_one_and_keeps_its_mode()
    {
        var original = File.ReadAllText(_path);
        var plan = AllocatorFile.Plan(_path, new AllocatorChange(2048, null, null), _sys);

        var result = AllocatorFile.Commit(plan, Now);

        Assert.True(result.Changed);
        Assert.Equal(2048, result.MemoryMiB);
        Assert.Equal(_path + ".20260304T050607Z.bak", result.BackupPath);
        Assert.Equal(original, File.ReadAllText(result.BackupPath!));
        Assert.Equal(plan.NewText, File.ReadAllText(_path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(_path));
        Assert.Equal(["allocator.yaml.20260304T050607Z.bak"], OtherFiles());
    }

    [Fact]
    public void A_second_commit_in_the_same_second_gets_its_own_backup()
    {
        AllocatorFile.Commit(AllocatorFile.Plan(_path, new AllocatorChange(1024, null, null), _sys), Now);
        var second = AllocatorFile.Commit(AllocatorFile.Plan(_path, new AllocatorChange(2048, null, null), _sys), Now);

        Assert.Equal(_path + ".20260304T050607Z-1.bak", second.BackupPath);
        Assert.Contains("memory_mib: 1024", File.ReadAllText(second.BackupPath!), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unchanged_plan_writes_nothing()
    {
        var plan = AllocatorFile.Plan(_path, new AllocatorChange(512, 2, null), _sys);

        var result = AllocatorFile.Commit(plan, Now);

        Assert.False(plan.IsChange);
        Assert.False(result.Changed);
        Assert.Null(result.BackupPath);
        Assert.Empty(OtherFiles());
    }

    [Fact]
    public void A_plan_with_errors_is_refused_and_the_file_is_untouched()
    {
        var original = File.ReadAllBytes(_path);
        var plan = AllocatorFile.Plan(_path, new AllocatorChange(null, 3, null), _sys);

        var ex = Assert.Throws<NitroEnclaveException>(() => AllocatorFile.Commit(plan, Now));

        Assert.Equal(AllocatorErrors.CpuCountNotWholeCores, ex.ErrorId);
        Assert.Equal(original, File.ReadAllBytes(_path));
        Assert.Empty(OtherFiles());
    }

    [Fact]
    public void A_failure_before_the_rename_leaves_the_original_and_no_temporary_file()
    {
        var original = File.ReadAllBytes(_path);
        var plan = AllocatorFile.Plan(_path, new AllocatorChange(4096, null, null), _sys);
        string? temp = null;

        var ex = Assert.Throws<NitroEnclaveException>(() => AllocatorFile.Commit(plan, Now, t =>
        {
            temp = t;
            Assert.Equal(plan.NewText, File.ReadAllText(t));
            throw new IOException("disk full");
        }));

        Assert.Equal(AllocatorErrors.WriteFailed, ex.ErrorId);
        Assert.Contains("disk full", ex.Message, StringComparison.Ordinal);
        Assert.Equal(original, File.ReadAllBytes(_path));
        Assert.False(File.Exists(temp));
    }

    [Fact]
    public void A_file_changed_since_planning_is_not_overwritten()
    {
        var plan = AllocatorFile.Plan(_path, new AllocatorChange(4096, null, null), _sys);
        File.AppendAllText(_path, "# edited meanwhile\n");

        var ex = Assert.Throws<NitroEnclaveException>(() => AllocatorFile.Commit(plan, Now));

        Assert.Equal(AllocatorErrors.WriteFailed, ex.ErrorId);
        Assert.EndsWith("# edited meanwhile\n", File.ReadAllText(_path), StringComparison.Ordinal);
    }

    [Fact]
    public void A_utf8_bom_is_kept()
    {
        File.WriteAllBytes(_path, [0xEF, 0xBB, 0xBF, .. "memory_mib: 512\ncpu_count: 2\n"u8]);

        AllocatorFile.Commit(AllocatorFile.Plan(_path, new AllocatorChange(1024, null, null), _sys), Now);

        Assert.Equal([0xEF, 0xBB, 0xBF, .. "memory_mib: 1024\ncpu_count: 2\n"u8], File.ReadAllBytes(_path));
    }

    [Fact]
    public void Read_reports_findings_as_warnings_and_a_missing_file_by_id()
    {
        File.WriteAllText(_path, "memory_mib: 512\ncpu_pool: 1\n");

        var settings = AllocatorFile.Read(_path, _sys);
        var missing = Assert.Throws<NitroEnclaveException>(() => AllocatorFile.Read(_path + ".nope", _sys));

        Assert.Equal("1", settings.CpuPool);
        Assert.Equal(AllocatorErrors.CpuPoolPartialCore, Assert.Single(settings.Findings).ErrorId);
        Assert.Equal(AllocatorFindingSeverity.Warning, settings.Findings[0].Severity);
        Assert.Equal(AllocatorErrors.FileNotFound, missing.ErrorId);
    }
}
