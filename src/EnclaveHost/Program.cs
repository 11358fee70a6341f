using System.Runtime.InteropServices;
using NitroEnclave;
using NitroEnclave.EnclaveHost;
using NitroEnclave.Protocol;

const string Usage = """
    EnclaveHost: the NitroEnclave enclave server.

    EnclaveHost serve [options]
      --listen URI            vsock://:5000 (default), tcp://127.0.0.1:5000 or unix:/path
      --nsm device|simulated  the security module: /dev/nsm (default) or a local simulation
      --nsm-state DIR         simulated: keep the simulated certificate chain here (created on first use)
      --pcrs-from-eif FILE    simulated: report the PCRs of this enclave image instead of measuring this server
      --debug-mode            simulated: all PCRs read as zero, as in a debug-mode enclave
      --max-frame-bytes N     largest request accepted (default 67108864)
      --max-connections N     connections served at once (default 64)
      --max-concurrency N     requests processed at once (default: the number of CPUs)
      --idle-timeout S        seconds a connection may wait between requests (default 30)
      --request-timeout S     seconds one request may take (default 60)
      --ready-file FILE       also write the ready line to this file
      --verbose               log connection-level events too
    EnclaveHost measure       print the PCRs the simulated module reports for this server
    EnclaveHost --version
    """;

string[] valueOptions = ["--listen", "--nsm", "--nsm-state", "--pcrs-from-eif", "--max-frame-bytes", "--max-connections", "--max-concurrency", "--idle-timeout", "--request-timeout", "--ready-file"];
string[] flagOptions = ["--debug-mode", "--verbose"];

if (args is ["--version"])
{
    Console.WriteLine(HostInfo.Version);
    return 0;
}

if (args is [] or ["--help"] or ["-h"])
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

CommandLine line;
try
{
    line = CommandLine.Parse(args, valueOptions.ToHashSet(), flagOptions.ToHashSet());
    if (line.Verb is not ("serve" or "measure"))
    {
        throw new UsageException($"unknown command '{line.Verb}'");
    }
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"EnclaveHost: {ex.Message}\n\n{Usage}");
    return 2;
}

var log = new StructuredLog(Console.Error, line.Has("--verbose"));
try
{
    var measurements = ServerSetup.Measurements(line);
    if (line.Verb == "measure")
    {
        Console.WriteLine(ServerSetup.MeasurementsJson(measurements));
        return 0;
    }

    using var securityModule = ServerSetup.SecurityModule(line, measurements, out var rootCertificatePem);
    var options = ServerSetup.Options(line);
    var description = new ServerDescription
    {
        Server = "NitroEnclave.EnclaveHost",
        Version = HostInfo.Version,
        SecurityModule = line.Value("--nsm") ?? "device",
        DebugMode = line.Has("--debug-mode"),
        KmsConfigured = false,
        MaxFrameBytes = options.MaxFrameBytes,
        MaxConcurrentRequests = options.MaxConcurrentRequests,
        RequestTimeoutSeconds = (int)options.RequestTimeout.TotalSeconds,
    };

    await using var server = new EnclaveServer(options, new RequestHandler(description, securityModule, detection: null), log);
    var endpoint = server.Start();

    using var stopping = new CancellationTokenSource();
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stopping.Cancel(); });
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stopping.Cancel(); });

    var ready = ServerSetup.ReadyLine(endpoint, description, line.Value("--nsm") == "simulated" ? measurements : null, rootCertificatePem);
    Console.WriteLine(ready);
    if (line.Value("--ready-file") is { } readyFile)
    {
        ServerSetup.WriteAtomically(readyFile, ready);
    }

    log.Info("ready", ("endpoint", endpoint.ToString()), ("securityModule", description.SecurityModule));
    await Task.Delay(Timeout.Infinite, stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
    log.Info("stopping", ("reason", "signal"));
    await server.StopAsync().ConfigureAwait(false);
    return 0;
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"EnclaveHost: {ex.Message}\n\n{Usage}");
    return 2;
}
catch (NitroEnclaveException ex)
{
    log.Error("startup-failed", ("code", ex.ErrorId), ("reason", ex.Message));
    return 1;
}

internal static class HostInfo
{
    public static string Version { get; } =
        typeof(HostInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
