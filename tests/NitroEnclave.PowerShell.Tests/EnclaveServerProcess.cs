using System.Diagnostics;
using System.Text.Json;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>The enclave server from the built module folder, started as a child process on a loopback TCP port.</summary>
public sealed class EnclaveServerProcess : IDisposable
{
    private readonly Process _process;

    private EnclaveServerProcess(Process process, JsonElement ready, string stateDirectory)
    {
        _process = process;
        Endpoint = ready.GetProperty("endpoint").GetString()!;
        Pcr0 = ready.GetProperty("pcrs").GetProperty("PCR0").GetString()!;
        RootCertificatePath = Path.Combine(stateDirectory, "root.pem");
        File.WriteAllText(RootCertificatePath, ready.GetProperty("rootCertificate").GetString());
        StateDirectory = stateDirectory;
    }

    public string Endpoint { get; }

    public string Pcr0 { get; }

    public string RootCertificatePath { get; }

    public string StateDirectory { get; }

    public static EnclaveServerProcess Start(params string[] extraArguments)
    {
        var state = Directory.CreateTempSubdirectory("enclavehost-").FullName;
        var start = new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(ModuleHost.ModuleManifest)!, "enclavehost", "EnclaveHost"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "serve", "--listen", "tcp://127.0.0.1:0", "--nsm", "simulated", "--nsm-state", Path.Combine(state, "nsm") }.Concat(extraArguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("EnclaveHost exited before it was ready, exit code " + (process.WaitForExit(5000) ? process.ExitCode : -1));
        using var ready = JsonDocument.Parse(line);
        return new EnclaveServerProcess(process, ready.RootElement.Clone(), state);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
        Directory.Delete(StateDirectory, recursive: true);
    }
}
