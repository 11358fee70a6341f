namespace NitroEnclave.PowerShell.Tests;

/// <summary>The README's main job, examples/quickstart.ps1, run as a user runs it: the whole flow through the cmdlets.</summary>
public sealed class QuickStartTests : IDisposable
{
    private readonly DirectoryInfo _output = Directory.CreateTempSubdirectory("quickstart-");

    public void Dispose() => _output.Delete(recursive: true);

    [Fact]
    public void The_quick_start_finds_five_airplanes_writes_the_annotated_image_and_the_parent_is_denied()
    {
        var script = Path.Combine(ModuleHost.RepositoryRoot, "examples", "quickstart.ps1");

        var result = ModuleHost.Run("& $script -OutputDirectory $out", new Dictionary<string, object?> { ["script"] = script, ["out"] = _output.FullName }).AssertNoErrors();

        var text = result.FormattedText;
        Assert.Contains("airplane x5", text, StringComparison.Ordinal);
        Assert.Equal(5, text.Split('\n').Count(line => line.StartsWith("airplane ", StringComparison.Ordinal)));
        Assert.Contains("Denied, as it must be", string.Join('\n', result.Output.Select(o => o.ToString())), StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(_output.FullName, "air-show.annotated.jpg")).Length > 100_000);
        Assert.False(File.Exists(Path.Combine(_output.FullName, "air-show.parent.jpg")));
    }
}
