using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace NitroEnclave.Hosting;

/// <summary>
/// A child server process that announces it is ready by printing its first JSON object line on standard output.
/// Standard error goes to a log file. Stop asks it to finish (SIGTERM) and kills it only after a grace period.
/// </summary>
public sealed partial class ReadyProcess : IDisposable
{
    public const string StartFailed = "ChildProcessStartFailed";

    private const int EAccess = 13;

    private readonly Process _process;
    private bool _disposed;

    private ReadyProcess(Process process, JsonElement ready, string? logPath)
    {
        _process = process;
        ProcessId = process.Id;
        Ready = ready;
        LogPath = logPath;
    }

    /// <summary>The ready line, parsed.</summary>
    public JsonElement Ready { get; }

    /// <summary>The child's process id, still readable after it stopped.</summary>
    public int ProcessId { get; }

    public string? LogPath { get; }

    public bool HasExited => _disposed || _process.HasExited;

    /// <summary>
    /// Starts the module's own <paramref name="executable"/> (made executable first if it is not) and waits for its
    /// ready line; failure reports the process's own words from the log.
    /// </summary>
    public static ReadyProcess Start(string executable, IEnumerable<string> arguments, string? logPath, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (!File.Exists(executable))
        {
            throw new NitroEnclaveException(StartFailed, ErrorKind.NotFound, $"Cannot find {executable}; build the module first (dotnet build -c Release).");
        }

        EnsureExecutable(executable);
        var start = new ProcessStartInfo(executable);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Start(start, logPath, timeout, cancellationToken);
    }

    /// <summary>Starts the process <paramref name="start"/> describes (its redirections are set here) and waits for its ready line.</summary>
    public static ReadyProcess Start(ProcessStartInfo start, string? logPath, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = logPath is not null;
        start.RedirectStandardInput = true;
        start.UseShellExecute = false;
        var executable = start.FileName;
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new NitroEnclaveException(StartFailed, ErrorKind.ResourceUnavailable, $"Cannot start {executable}.");
        }
        catch (Win32Exception ex)
        {
            // The OS's reason (permission denied, exec format error, ...) under one stable id.
            var kind = ex.NativeErrorCode == EAccess ? ErrorKind.PermissionDenied : ErrorKind.ResourceUnavailable;
            throw new NitroEnclaveException(StartFailed, kind, $"Cannot start {executable}: {ex.Message}", ex);
        }

        if (logPath is not null)
        {
            // Closed at the end of the child's stderr (a null line), not when it exits: lines still queued after the
            // exit would otherwise meet a closed writer, and an exception on that reader thread ends the whole host.
            var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
            var closed = false;
            process.ErrorDataReceived += (_, e) =>
            {
                lock (log)
                {
                    if (closed)
                    {
                        return;
                    }

                    if (e.Data is null)
                    {
                        closed = true;
                        log.Dispose();
                    }
                    else
                    {
                        log.WriteLine(e.Data);
                    }
                }
            };
            process.BeginErrorReadLine();
        }

        try
        {
            var ready = WaitForReady(process, timeout, cancellationToken);
            // Keep draining stdout so the child never blocks on a full pipe.
            _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
            return new ReadyProcess(process, ready, logPath);
        }
        catch
        {
            Kill(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Gives a module binary the execute permission its owner lacks, wherever it may be read: package installers
    /// (NuGet packages, Install-PSResource, zip tools) drop Unix file modes.
    /// </summary>
    internal static void EnsureExecutable(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & UnixFileMode.UserExecute) != 0)
        {
            return;
        }

        // Each read bit (r--r--r--) gains the execute bit two places below it (r-xr-xr-x).
        var readable = mode & (UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        try
        {
            File.SetUnixFileMode(path, mode | UnixFileMode.UserExecute | (UnixFileMode)((int)readable >> 2));
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw new NitroEnclaveException(StartFailed, ErrorKind.PermissionDenied,
                $"{path} is not executable and cannot be made so ({ex.Message}); run 'chmod +x' on it, or install the module as a user who may.", ex);
        }
    }

    /// <summary>Asks the process to stop and waits; kills it after <paramref name="grace"/>.</summary>
    public void Stop(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            _ = Signal(_process.Id, 15);
            if (!_process.WaitForExit(grace))
            {
                Kill(_process);
            }
        }

        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            Stop(TimeSpan.FromSeconds(10));
            _process.Dispose();
            _disposed = true;
        }
    }

    private static JsonElement WaitForReady(Process process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var line = process.StandardOutput.ReadLineAsync(deadline.Token).AsTask().GetAwaiter().GetResult();
                if (line is null)
                {
                    process.WaitForExit();
                    throw new NitroEnclaveException(StartFailed, ErrorKind.ResourceUnavailable, $"{Path.GetFileName(process.StartInfo.FileName)} exited with code {process.ExitCode} before it was ready; see its log.");
                }

                if (line.StartsWith('{'))
                {
                    using var document = JsonDocument.Parse(line);
                    return document.RootElement.Clone();
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new NitroEnclaveException(StartFailed, ErrorKind.OperationTimeout, $"{Path.GetFileName(process.StartInfo.FileName)} was not ready within {timeout.TotalSeconds:0} s.");
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Signal(int pid, int signal);
}
