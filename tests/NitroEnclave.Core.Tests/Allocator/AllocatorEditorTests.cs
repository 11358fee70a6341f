using NitroEnclave.Allocator;

namespace NitroEnclave.Tests.Allocator;

public sealed class AllocatorEditorTests
{
    private static readonly string DefaultFile = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "allocator", "allocator.default.yaml"));

    private static string Edit(string text, int? memory = null, int? count = null, string? pool = null) =>
        AllocatorEditor.Apply(AllocatorDocument.Parse(text), new AllocatorChange(memory, count, pool)).Text;

    [Fact]
    public void The_default_file_parses_with_its_values_located_exactly()
    {
        var document = AllocatorDocument.Parse(DefaultFile);

        Assert.Equal("512", document.ValueOf("memory_mib"));
        Assert.Equal("2", document.ValueOf("cpu_count"));
        Assert.False(document.Has("cpu_pool"));
        var memory = document.Entries["memory_mib"];
        Assert.Equal("512", DefaultFile[memory.ValueStart..memory.ValueEnd]);
        Assert.Equal("memory_mib", DefaultFile.Substring(memory.KeyStart, 10));
    }

    [Fact]
    public void Changing_the_memory_changes_only_that_value()
    {
        var edited = Edit(DefaultFile, memory: 4096);

        Assert.Equal(DefaultFile.Replace("memory_mib: 512", "memory_mib: 4096", StringComparison.Ordinal), edited);
        Assert.Equal(["-   5: memory_mib: 512", "+   5: memory_mib: 4096"], LineDiff.Changes(DefaultFile, edited));
    }

    [Fact]
    public void Setting_the_values_already_there_changes_nothing()
    {
        var (text, changes) = AllocatorEditor.Apply(AllocatorDocument.Parse(DefaultFile), new AllocatorChange(512, 2, null));

        Assert.Equal(DefaultFile, text);
        Assert.Empty(changes);
    }

    [Fact]
    public void Switching_to_cpu_pool_comments_out_cpu_count_and_keeps_the_example()
    {
        var edited = Edit(DefaultFile, pool: "3,2");

        Assert.Equal(["-   8: cpu_count: 2", "+   8: # cpu_count: 2", "+   9: cpu_pool: 2,3"], LineDiff.Changes(DefaultFile, edited));
        Assert.Contains("# cpu_pool: 2,3,6-9", edited, StringComparison.Ordinal);
        var document = AllocatorDocument.Parse(edited);
        Assert.Equal("2,3", document.ValueOf("cpu_pool"));
        Assert.False(document.Has("cpu_count"));
    }

    [Fact]
    public void Switching_back_revives_the_commented_line_instead_of_adding_one()
    {
        var pool = Edit(DefaultFile, pool: "2,3");
        var back = Edit(pool, count: 4);
        var again = Edit(back, pool: "2-5");

        Assert.Equal(["-   8: cpu_count: 2", "+   8: cpu_count: 4", "+   9: # cpu_pool: 2,3"], LineDiff.Changes(DefaultFile, back));
        Assert.Equal(["-   8: cpu_count: 4", "-   9: # cpu_pool: 2,3", "+   8: # cpu_count: 4", "+   9: cpu_pool: 2-5"], LineDiff.Changes(back, again));
        Assert.Equal(DefaultFile.Split('\n').Length + 1, again.Split('\n').Length);
    }

    [Fact]
    public void A_pool_equal_as_a_set_is_no_change_even_when_written_differently()
    {
        var text = "memory_mib: 512\ncpu_pool: 2-3,6,7\n";

        Assert.Equal(text, Edit(text, pool: "7,6,3,2"));
    }

    [Fact]
    public void Quoting_trailing_comments_and_crlf_line_endings_are_kept()
    {
        var text = "memory_mib: '512'   # memory\r\ncpu_count: \"2\" # cpus\r\n";

        var edited = Edit(text, memory: 1024, pool: "2,3");

        Assert.Equal("memory_mib: '1024'   # memory\r\n# cpu_count: \"2\" # cpus\r\ncpu_pool: 2,3\r\n", edited);
    }

    [Fact]
    public void Missing_keys_are_added_after_memory_or_at_the_end()
    {
        Assert.Equal("# settings\nmemory_mib: 512\ncpu_count: 2\n", Edit("# settings\n", memory: 512, count: 2));
        Assert.Equal("memory_mib: 512\ncpu_pool: 2,3\n# end", Edit("memory_mib: 512\n# end", pool: "2,3"));
        Assert.Equal("memory_mib: 64\ncpu_count: 2\n", Edit("memory_mib:\ncpu_count: 2\n", memory: 64));
    }

    [Fact]
    public void An_empty_value_and_missing_cpu_key_are_both_filled()
    {
        Assert.Equal("memory_mib: 64\ncpu_count: 2\n", Edit("memory_mib:\n", memory: 64, count: 2));
    }

    [Fact]
    public void A_flow_mapping_gets_value_edits_but_not_line_edits()
    {
        Assert.Equal("{memory_mib: 1024, cpu_count: 2}", Edit("{memory_mib: 512, cpu_count: 2}", memory: 1024));

        var ex = Assert.Throws<NitroEnclaveException>(() => Edit("{memory_mib: 512, cpu_count: 2}", pool: "2,3"));
        Assert.Equal(AllocatorErrors.LayoutUnsupported, ex.ErrorId);
    }

    [Theory]
    [InlineData("- memory_mib\n", "not a mapping")]
    [InlineData("memory_mib: 1\n---\ncpu_count: 2\n", "more than one")]
    [InlineData("memory_mib: 'unterminated\n", "not valid YAML")]
    public void Bad_documents_are_reported_or_refused(string text, string message)
    {
        var ex = Assert.Throws<NitroEnclaveException>(() => AllocatorDocument.Parse(text));
        Assert.Equal(AllocatorErrors.FileInvalid, ex.ErrorId);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_nested_value_parses_but_cannot_be_edited_in_place()
    {
        var document = AllocatorDocument.Parse("memory_mib: [1, 2]\ncpu_count: 2\n");

        Assert.Null(document.ValueOf("memory_mib"));
        Assert.Equal("2", document.ValueOf("cpu_count"));
        var ex = Assert.Throws<NitroEnclaveException>(() => AllocatorEditor.Apply(document, new AllocatorChange(4, null, null)));
        Assert.Equal(AllocatorErrors.LayoutUnsupported, ex.ErrorId);
    }

    [Fact]
    public void An_invalid_pool_is_refused_before_editing()
    {
        var ex = Assert.Throws<NitroEnclaveException>(() => Edit(DefaultFile, pool: "2,,3"));

        Assert.Equal(AllocatorErrors.CpuPoolSyntax, ex.ErrorId);
    }

    [Fact]
    public void Unknown_and_duplicate_keys_are_recorded()
    {
        var document = AllocatorDocument.Parse("memory_mib: 1\nmemory_mib: 2\nhugepages: 3\n");

        Assert.Equal(["hugepages"], document.UnknownKeys);
        Assert.Equal(["memory_mib"], document.DuplicateKeys);
        Assert.Equal("1", document.ValueOf("memory_mib"));
    }

    [Theory]
    [InlineData("2,3,6-9", new[] { 2, 3, 6, 7, 8, 9 }, "2,3,6-9")]
    [InlineData(" 9-6 ", null, null)]
    [InlineData("6-9,3,2,2", new[] { 2, 3, 6, 7, 8, 9 }, "2,3,6-9")]
    [InlineData("1-2", new[] { 1, 2 }, "1,2")]
    [InlineData("", null, null)]
    [InlineData("a", null, null)]
    [InlineData("-1", null, null)]
    [InlineData("1,", null, null)]
    public void Cpu_lists_parse_and_format_canonically(string text, int[]? cpus, string? canonical)
    {
        var parsed = CpuList.TryParse(text);

        Assert.Equal(cpus, parsed?.ToArray());
        Assert.Equal(canonical, parsed is null ? null : CpuList.Format(parsed));
    }
}
