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
        // Five from the open mode; after the parent's view of the confidential result (a path, no objects), five from
        // the data owner's reading of it.
        var confidential = text.IndexOf(".result.enc", StringComparison.Ordinal);
        Assert.True(confidential > 0, "The quick start ends with the confidential mode.");
        Assert.Equal(5, AirplaneLines(text[..confidential]));
        Assert.Equal(5, AirplaneLines(text[confidential..]));
        var said = string.Join('\n', result.Output.Select(o => o.ToString()));
        Assert.Contains("Decrypt denied, as it must be", said, StringComparison.Ordinal);
        Assert.Contains("Policy change denied, as it must be", said, StringComparison.Ordinal);
        Assert.Contains("The parent's decrypt of the result is denied, as it must be", said, StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(_output.FullName, "air-show.annotated.jpg")).Length > 100_000);
        Assert.False(File.Exists(Path.Combine(_output.FullName, "air-show.parent.jpg")));
        Assert.True(File.Exists(Path.Combine(_output.FullName, "air-show.jpg.result.enc")));
    }

    private static int AirplaneLines(string text) => text.Split('\n').Count(line => line.StartsWith("airplane ", StringComparison.Ordinal));
}
