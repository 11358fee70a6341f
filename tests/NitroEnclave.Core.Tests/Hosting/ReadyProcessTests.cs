using NitroEnclave.Hosting;

namespace NitroEnclave.Tests.Hosting;

/// <summary>Starting the module's own servers after an installer dropped their file modes, and failing with one stable id.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ReadyProcessTests : IDisposable
{
    private const UnixFileMode ReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly DirectoryInfo _module = Directory.CreateTempSubdirectory("readyprocess-");

    public void Dispose() => _module.Delete(recursive: true);

    private static ReadyProcess Start(string executable, params string[] arguments) =>
        ReadyProcess.Start(executable, arguments, null, TimeSpan.FromSeconds(30), CancellationToken.None);

    /// <summary>A file in a temp module layout with the mode an installer leaves: rw-r--r--.</summary>
    private string Installed(string name, Action<string> write)
    {
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(_module.FullName, "enclavehost")).FullName, name);
        write(path);
        File.SetUnixFileMode(path, ReadWrite);
        return path;
    }

    [Fact]
    public void A_binary_installed_without_its_execute_bit_is_made_executable_and_starts()
    {
        // A real ELF executable that prints a ready line: echo.
        var server = Installed("EnclaveHost", path => File.Copy("/bin/echo", path));

        using var process = Start(server, """{"ready":true}""");

        Assert.True(process.Ready.GetProperty("ready").GetBoolean());
        Assert.Equal(ReadWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, File.GetUnixFileMode(server));
    }

    [Fact]
    public void Stderr_lines_still_queued_when_the_child_exits_reach_the_log_and_never_a_closed_writer()
    {
        // The child writes a burst on stderr and exits at once: many lines are still queued when it has exited.
        // Writing them to a log closed on exit threw on a reader thread, which ends the whole host (a user's pwsh).
        var log = Path.Combine(_module.FullName, "child.log");
        var start = new System.Diagnostics.ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", """echo '{"ready":true}'; i=0; while [ $i -lt 3000 ]; do echo "line $i" >&2; i=$((i+1)); done""" } };
        using (var process = ReadyProcess.Start(start, log, TimeSpan.FromSeconds(30), CancellationToken.None))
        {
            // The end of stderr, not the exit, closes the log: once it has the last line, it has them all.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!LogHas(log, "line 2999") && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
        }

        var lines = File.ReadAllLines(log);
        Assert.Equal(3000, lines.Length);
        Assert.Equal("line 2999", lines[^1]);
    }

    private static bool LogHas(string path, string line)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return reader.ReadToEnd().Contains(line + "\n", StringComparison.Ordinal);
    }

    [Fact]
    public void An_executable_binary_keeps_its_mode()
    {
        var server = Installed("EnclaveHost", path => File.Copy("/bin/echo", path));
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        File.SetUnixFileMode(server, OwnerOnly);

        using var process = Start(server, """{"ready":true}""");

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(server));
    }

    [Fact]
    public void A_file_that_is_no_program_fails_with_the_stable_id_the_path_and_the_reason()
    {
        var server = Installed("EnclaveHost", path => File.WriteAllText(path, "not a program\n"));

        var error = Assert.Throws<NitroEnclaveException>(() => Start(server));

        Assert.Equal("ChildProcessStartFailed", error.ErrorId);
        Assert.Contains(server, error.Message, StringComparison.Ordinal);
        Assert.Contains("Exec format error", error.Message, StringComparison.Ordinal);
        Assert.IsType<System.ComponentModel.Win32Exception>(error.InnerException);
    }

    [Fact]
    public void A_file_whose_mode_cannot_be_changed_fails_with_the_stable_id_and_permission_denied()
    {
        // procfs refuses chmod even to root: the case of a module installed by another user.
        const string Unchangeable = "/proc/self/status";

        var error = Assert.Throws<NitroEnclaveException>(() => Start(Unchangeable));

        Assert.Equal("ChildProcessStartFailed", error.ErrorId);
        Assert.Equal(ErrorKind.PermissionDenied, error.Kind);
        Assert.Contains(Unchangeable, error.Message, StringComparison.Ordinal);
        Assert.Contains("chmod +x", error.Message, StringComparison.Ordinal);
    }
}
