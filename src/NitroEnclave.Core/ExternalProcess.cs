using System.ComponentModel;
using System.Diagnostics;

namespace NitroEnclave;

/// <summary>What a finished external program printed and returned.</summary>
public sealed class ProcessOutput
{
    internal ProcessOutput(int exitCode, string standardOutput, string standardError)
    {
        ExitCode = exitCode;
        StandardOutput = standardOutput;
        StandardError = standardError;
    }

    public int ExitCode { get; }

    public string StandardOutput { get; }

    public string StandardError { get; }
}

/// <summary>
/// Runs a program found on PATH with an argument list (never a shell command line, so no argument is ever re-parsed),
/// capturing stdout and stderr. Cancellation kills the program.
/// </summary>
public static class ExternalProcess
{
    /// <summary>The full path of <paramref name="name"/> in the directories of the current PATH, or null.</summary>
    public static string? FindOnPath(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate) && IsExecutable(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// Runs <paramref name="executable"/> to completion; returns null when it cannot be started. Each stderr line also goes
    /// to <paramref name="onErrorLine"/> as it is printed (on a reader thread), for tools that report progress there.
    /// </summary>
    public static ProcessOutput? Run(string executable, IEnumerable<string> arguments, CancellationToken cancellationToken, Action<string>? onErrorLine = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception)
        {
            return null;
        }

        process.StandardInput.Close();
        using var kill = cancellationToken.Register(() =>
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        });
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }

            onErrorLine?.Invoke(e.Data);
        };
        process.BeginErrorReadLine();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);

        // Without a timeout, WaitForExit also waits until the last stderr line has been handed over.
        process.WaitForExit();
        cancellationToken.ThrowIfCancellationRequested();
        lock (stderr)
        {
            return new ProcessOutput(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.ToString());
        }
    }

    private static bool IsExecutable(string file) =>
        OperatingSystem.IsWindows() || (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
