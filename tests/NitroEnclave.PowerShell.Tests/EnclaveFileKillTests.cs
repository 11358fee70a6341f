using System.Diagnostics;
using System.Text;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>A local KMS and one 256 MiB protected file, shared by the kill tests.</summary>
public sealed class LargeProtectedFileFixture : IDisposable
{
    public const int PlaintextLength = 256 << 20;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclavefile-kill-");

    public LargeProtectedFileFixture()
    {
        Kms = new EnclaveFileKmsFixture();
        var plain = Path.Combine(_dir.FullName, "large.bin");
        using (var file = File.Create(plain))
        {
            var block = Encoding.ASCII.GetBytes(new string('p', 1 << 20));
            for (var written = 0; written < PlaintextLength; written += block.Length)
            {
                file.Write(block);
            }
        }

        Protected = plain + ".enc";
        ModuleHost.Run(
            "Protect-EnclaveFile -LiteralPath $p -KeyId $key -EndpointUrl $e -AccessKey $ak -SecretKey $sk -Region us-east-1",
            new Dictionary<string, object?> { ["p"] = plain, ["key"] = Kms.KeyArn, ["e"] = Kms.Endpoint.ToString(), ["ak"] = Kms.AccessKey, ["sk"] = Kms.SecretKey })
            .AssertNoErrors();
        File.Delete(plain);
    }

    public EnclaveFileKmsFixture Kms { get; }

    public string Protected { get; }

    public void Dispose()
    {
        Kms.Dispose();
        _dir.Delete(recursive: true);
    }
}

/// <summary>
/// Unprotect-EnclaveFile in a real child process (the module in NitroEnclave.ScriptHost), stopped by a signal in the
/// middle of writing a 256 MiB plaintext: no plaintext and no partial file may be left, the good file stays as it was.
/// </summary>
public sealed class EnclaveFileKillTests(LargeProtectedFileFixture large) : IClassFixture<LargeProtectedFileFixture>, IDisposable
{
    private const string GoodContent = "the good file from before";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclavefile-kill-out-");
    private readonly DirectoryInfo _scripts = Directory.CreateTempSubdirectory("enclavefile-kill-scripts-");

    public void Dispose()
    {
        _dir.Delete(recursive: true);
        _scripts.Delete(recursive: true);
    }

    private string Destination => Path.Combine(_dir.FullName, "large.bin");

    private string[] Files() =>
        [.. Directory.EnumerateFiles(_dir.FullName, "*", new EnumerationOptions { AttributesToSkip = 0, RecurseSubdirectories = true })
            .Select(path => Path.GetRelativePath(_dir.FullName, path)).Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData("TERM")]
    [InlineData("KILL")]
    public void A_signal_in_the_middle_of_the_plaintext_leaves_no_plaintext_and_the_good_file_untouched(string signal)
    {
        File.WriteAllText(Destination, GoodContent);
        var script = WriteScript("""
            param($Manifest, $Source, $Destination, $Endpoint)
            $ErrorActionPreference = 'Stop'
            Import-Module $Manifest -ErrorAction Stop
            Unprotect-EnclaveFile -LiteralPath $Source -Destination $Destination -Force -EndpointUrl $Endpoint -Region us-east-1 -ErrorAction Stop
            """);
        using var child = StartScript(script, ModuleHost.ModuleManifest, large.Protected, Destination, large.Kms.Endpoint.ToString());

        var output = WaitForOutputFile(child, minimumLength: 32 << 20);
        Assert.NotEqual(Destination, output);
        Signal(child, signal);

        Assert.True(child.WaitForExit(30_000), "the child did not end after SIG" + signal);
        Assert.NotEqual(0, child.ExitCode);
        Assert.Equal(["large.bin"], Files());
        Assert.Equal(GoodContent, File.ReadAllText(Destination));
    }

    [Fact]
    public void SIGTERM_removes_the_hidden_partial_file_where_there_are_no_unnamed_files()
    {
        File.WriteAllText(Destination, GoodContent);
        // The fallback is chosen by the file system; this forces it through the internal factory, as no local one lacks O_TMPFILE.
        var script = WriteScript("""
            param($Core, $Destination)
            $ErrorActionPreference = 'Stop'
            $null = [Reflection.Assembly]::LoadFrom($Core)
            $create = [NitroEnclave.Envelope.PendingOutputFile].GetMethod('Create', [Reflection.BindingFlags]'NonPublic, Static', $null, [type[]]@([string], [bool], [bool], [bool]), $null)
            $output = $create.Invoke($null, @($Destination, $true, $true, $false))
            $output.Stream.Write([byte[]]::new(1MB), 0, 1MB)
            $output.Stream.Flush()
            [Threading.Thread]::Sleep(60000)
            """);
        var core = Path.Combine(Path.GetDirectoryName(ModuleHost.ModuleManifest)!, "deps", "NitroEnclave.Core.dll");
        using var child = StartScript(script, core, Destination);

        var partial = WaitForOutputFile(child, minimumLength: 1 << 20);
        Assert.EndsWith(".nitroenclave-partial", partial, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(partial), Files());
        Signal(child, "TERM");

        Assert.True(child.WaitForExit(30_000), "the child did not end after SIGTERM");
        Assert.Equal(["large.bin"], Files());
        Assert.Equal(GoodContent, File.ReadAllText(Destination));
    }

    private string WriteScript(string text)
    {
        var path = Path.Combine(_scripts.FullName, $"{Guid.NewGuid():N}.ps1");
        File.WriteAllText(path, text);
        return path;
    }

    private readonly StringBuilder _childOutput = new();

    private Process StartScript(string script, params string[] arguments)
    {
        var scriptHost = Path.Combine(ModuleHost.RepositoryRoot, "tools", "NitroEnclave.ScriptHost", "bin", BuildConfiguration, "net10.0", "NitroEnclave.ScriptHost.dll");
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path && File.Exists(path) ? path : "dotnet";
        var start = new ProcessStartInfo(host) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { scriptHost, script }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        // The local KMS's keys reach the child through the AWS SDK's environment variables, not its command line.
        start.Environment["AWS_ACCESS_KEY_ID"] = large.Kms.AccessKey;
        start.Environment["AWS_SECRET_ACCESS_KEY"] = large.Kms.SecretKey;
        var process = Process.Start(start)!;
        // The script host writes errors to both streams; both are kept for the failure message.
        DataReceivedEventHandler keep = (_, e) =>
        {
            lock (_childOutput)
            {
                _childOutput.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += keep;
        process.ErrorDataReceived += keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The configuration these tests were built in (bin/&lt;configuration&gt;/&lt;framework&gt;), which the script host shares.</summary>
    private static string BuildConfiguration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>
    /// Waits until the child holds a file open in the output folder (an unnamed O_TMPFILE file shows in /proc as
    /// "&lt;folder&gt;/#inode (deleted)") and has written at least <paramref name="minimumLength"/> bytes; returns what the descriptor links to.
    /// </summary>
    private string WaitForOutputFile(Process child, long minimumLength)
    {
        var folder = _dir.FullName + Path.DirectorySeparatorChar;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (child.HasExited)
            {
                child.WaitForExit();
                lock (_childOutput)
                {
                    Assert.Fail($"the child ended (exit code {child.ExitCode}) before it was seen writing: {_childOutput}");
                }
            }

            var output = SafeEnumerate($"/proc/{child.Id}/fd").Select(SafeLinkTarget).FirstOrDefault(target => target?.StartsWith(folder, StringComparison.Ordinal) == true);
            if (output is not null && Written(child.Id) >= minimumLength)
            {
                return output;
            }

            Thread.Sleep(2);
        }

        throw new TimeoutException("the child never wrote its output");
    }

    private static string[] SafeEnumerate(string folder)
    {
        try
        {
            return Directory.GetFileSystemEntries(folder);
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static string? SafeLinkTarget(string descriptor)
    {
        try
        {
            return new FileInfo(descriptor).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// How many bytes the child has written so far (wchar in /proc/&lt;pid&gt;/io). FileStream writes with pwrite, so
    /// the descriptor's own position does not move, and its size cannot be read without stat(2).
    /// </summary>
    private static long Written(int processId)
    {
        try
        {
            var line = File.ReadAllLines($"/proc/{processId}/io").FirstOrDefault(line => line.StartsWith("wchar:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.AsSpan(6).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static void Signal(Process child, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}
