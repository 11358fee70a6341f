using System.Runtime.InteropServices;
using NitroEnclave.Envelope;

namespace NitroEnclave.Tests.Envelope;

/// <summary>Output files that get their name only when complete: unnamed (Linux O_TMPFILE) and hidden partial files.</summary>
public sealed class PendingOutputFileTests : IDisposable
{
    private static readonly byte[] Content = [.. Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7))];

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pending-output-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private string[] Files() =>
        [.. Directory.EnumerateFiles(_dir.FullName, "*", new EnumerationOptions { AttributesToSkip = 0 }).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private static bool UnnamedFilesExpected =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    private static string PartialName(string destination) => $".{destination}.{Guid.NewGuid():N}{PendingOutputFile.PartialSuffix}";

    [Fact]
    public void On_Linux_the_data_is_in_a_file_without_a_name_until_it_is_committed()
    {
        using var output = PendingOutputFile.Create(PathOf("plain.bin"), overwrite: false, ownerOnly: true);
        output.Stream.Write(Content);
        output.Stream.Flush();

        Assert.Equal(UnnamedFilesExpected, output.IsUnnamed);
        if (UnnamedFilesExpected)
        {
            Assert.Empty(Files());
        }

        output.Commit();

        Assert.Equal(["plain.bin"], Files());
        Assert.Equal(Content, File.ReadAllBytes(PathOf("plain.bin")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf("plain.bin")));
        }
    }

    [Fact]
    public void The_fallback_writes_a_hidden_partial_file_readable_by_its_owner_only()
    {
        using var output = PendingOutputFile.Create(PathOf("plain.bin"), overwrite: false, ownerOnly: true, allowUnnamed: false);
        output.Stream.Write(Content);
        output.Stream.Flush();

        var partial = Assert.Single(Files());
        Assert.False(output.IsUnnamed);
        Assert.True(PendingOutputFile.IsPartialOf(partial, "plain.bin"), partial);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf(partial)));
        }

        output.Commit();
        Assert.Equal(["plain.bin"], Files());
        Assert.Equal(Content, File.ReadAllBytes(PathOf("plain.bin")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Disposing_without_committing_leaves_nothing_and_keeps_the_good_file(bool allowUnnamed)
    {
        File.WriteAllText(PathOf("plain.bin"), "good");

        using (var output = PendingOutputFile.Create(PathOf("plain.bin"), overwrite: true, ownerOnly: true, allowUnnamed))
        {
            output.Stream.Write(Content);
        }

        Assert.Equal(["plain.bin"], Files());
        Assert.Equal("good", File.ReadAllText(PathOf("plain.bin")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Committing_replaces_the_destination_only_when_overwrite_is_allowed(bool allowUnnamed)
    {
        using (var replacing = PendingOutputFile.Create(PathOf("a.bin"), overwrite: true, ownerOnly: false, allowUnnamed))
        {
            File.WriteAllText(PathOf("a.bin"), "old");
            replacing.Stream.Write(Content);
            replacing.Commit();
        }

        using (var refusing = PendingOutputFile.Create(PathOf("b.bin"), overwrite: false, ownerOnly: false, allowUnnamed))
        {
            // Created by someone else while this output was being written.
            File.WriteAllText(PathOf("b.bin"), "theirs");
            refusing.Stream.Write(Content);
            Assert.Equal(EnclaveFileErrors.DestinationExists, Assert.Throws<NitroEnclaveException>(refusing.Commit).ErrorId);
        }

        Assert.Equal(["a.bin", "b.bin"], Files());
        Assert.Equal(Content, File.ReadAllBytes(PathOf("a.bin")));
        Assert.Equal("theirs", File.ReadAllText(PathOf("b.bin")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_next_write_removes_partials_a_killed_process_left_of_the_same_destination_only(bool allowUnnamed)
    {
        var stale = PartialName("a.bin");
        var otherDestination = PartialName("b.bin");
        File.WriteAllText(PathOf(stale), "plaintext of a killed run");
        File.WriteAllText(PathOf(otherDestination), "b's partial");
        File.WriteAllText(PathOf(".a.bin.notaguid" + PendingOutputFile.PartialSuffix), "not a partial name");
        File.WriteAllText(PathOf(".a.bin.tmp"), "not a partial name");

        using (var output = PendingOutputFile.Create(PathOf("a.bin"), overwrite: false, ownerOnly: true, allowUnnamed))
        {
            output.Stream.Write(Content);
            output.Commit();
        }

        Assert.Equal([".a.bin.notaguid" + PendingOutputFile.PartialSuffix, ".a.bin.tmp", otherDestination, "a.bin"], Files());
    }

    [Fact]
    public void A_partial_file_another_writer_still_holds_is_not_removed()
    {
        using var first = PendingOutputFile.Create(PathOf("a.bin"), overwrite: true, ownerOnly: true, allowUnnamed: false);
        first.Stream.Write(Content);
        var live = Assert.Single(Files());

        using (var second = PendingOutputFile.Create(PathOf("a.bin"), overwrite: true, ownerOnly: true, allowUnnamed: false))
        {
            Assert.Contains(live, Files());
            second.Stream.Write([1, 2, 3]);
            second.Commit();
        }

        first.Commit();
        Assert.Equal(["a.bin"], Files());
        Assert.Equal(Content, File.ReadAllBytes(PathOf("a.bin")));
    }

    [Theory]
    [InlineData(".a.bin.0123456789abcdef0123456789abcdef.nitroenclave-partial", "a.bin", true)]
    [InlineData(".a.bin.0123456789abcdef0123456789abcdef.nitroenclave-partial", "a", false)]
    [InlineData(".a.bin.0123456789abcdef0123456789abcde.nitroenclave-partial", "a.bin", false)]
    [InlineData(".a.bin.0123456789abcdef0123456789abcdeg.nitroenclave-partial", "a.bin", false)]
    [InlineData(".a.bin.0123456789abcdef0123456789abcdef.tmp", "a.bin", false)]
    [InlineData("a.bin.0123456789abcdef0123456789abcdef.nitroenclave-partial", "a.bin", false)]
    [InlineData(".a.bin..nitroenclave-partial", "a.bin", false)]
    public void Partial_names_belong_to_one_destination(string fileName, string destination, bool expected) =>
        Assert.Equal(expected, PendingOutputFile.IsPartialOf(fileName, destination));
}
