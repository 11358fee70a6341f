using System.Text.RegularExpressions;

namespace NitroEnclave.Tests.Deployment;

/// <summary>
/// .dockerignore: the Dockerfiles build from the repository root, so the ignore file must keep everything out but the
/// files they COPY (a new COPY that it does not let through fails here, not in the administrator's docker build).
/// </summary>
public sealed partial class DockerContextTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "deploy");

    [Fact]
    public void The_context_starts_empty_and_lets_through_exactly_what_the_dockerfiles_copy()
    {
        var rules = File.ReadAllLines(Path.Combine(Folder, ".dockerignore")).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Equal("*", rules[0]);
        var allowed = rules.Skip(1).Select(r => Assert.Single(AllowRule().Matches(r)).Groups["path"].Value.TrimEnd('/')).ToList();

        var copied = Directory.EnumerateFiles(Folder, "Dockerfile", SearchOption.AllDirectories)
            .SelectMany(File.ReadAllLines)
            .Select(line => CopyLine().Match(line))
            .Where(m => m.Success)
            .SelectMany(m => m.Groups["sources"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            .Select(source => source.TrimEnd('/'))
            .ToList();
        Assert.NotEmpty(copied);

        // Every COPY source is let through (itself or a folder holding it), and nothing is let through that no COPY uses.
        Assert.All(copied, source => Assert.Contains(allowed, a => source == a || source.StartsWith(a + "/", StringComparison.Ordinal)));
        Assert.All(allowed, a => Assert.Contains(copied, source => source == a || source.StartsWith(a + "/", StringComparison.Ordinal)));
    }

    [GeneratedRegex(@"^!(?<path>[^*?\[\]!]+)$")]
    private static partial Regex AllowRule();

    [GeneratedRegex(@"^\s*COPY\s+(?!--)(?<sources>.+)$")]
    private static partial Regex CopyLine();
}
