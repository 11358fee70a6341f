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
      --kms-proxy-port N      reach KMS through the parent's vsock-proxy on this port (production; CID 3)
      --kms-proxy-cid N       the proxy's CID (default 3, the parent)
      --kms-endpoint URL      reach KMS at this URL instead (the local KMS)
      --model FILE            the ONNX detector (default: models/ssdlite_mobilenet_v2_coco.onnx beside the server)
      --labels FILE           its labels (default: the model's name with .labels.txt)
      --threads N             inference threads per request (default: CPUs / --max-concurrency, at least 1)
      --recipient-key reuse|per-request
                              the KMS Recipient key pair: reused within the bounds below (default), or a
                              never-used one per request
      --recipient-key-lifetime S  seconds one key pair serves (default 600, 10 to 86400)
      --recipient-key-max-uses N  requests one key pair serves (default 100; reuse only)
      --max-image-pixels N    largest decoded image accepted (default 50000000)
      --max-frame-bytes N     largest request accepted (default 67108864)
      --max-connections N     connections served at once (default 64)
      --max-concurrency N     requests processed at once (default: the number of CPUs)
      --memory-budget-mib N   memory that requests may hold at once: frames, plaintext, pixels (default 512)
      --first-frame-timeout S seconds a new connection may take to send its first frame header (default 5)
      --idle-timeout S        seconds a connection may wait between requests (default 30)
      --frame-timeout S       seconds a whole frame may take to arrive once its header has (default 20)
      --request-timeout S     seconds one request may take (default 60)
      --ready-file FILE       also write the ready line to this file
      --verbose               log connection-level events too
    EnclaveHost measure       print the PCRs the simulated module reports for this server
    EnclaveHost --version
    """;

string[] valueOptions =
[
    "--listen", "--nsm", "--nsm-state", "--pcrs-from-eif", "--kms-proxy-port", "--kms-proxy-cid", "--kms-endpoint", "--model", "--labels", "--threads",
    "--recipient-key", "--recipient-key-lifetime", "--recipient-key-max-uses",
    "--max-image-pixels", "--max-frame-bytes", "--max-connections", "--max-concurrency", "--idle-timeout", "--request-timeout", "--ready-file",
    "--memory-budget-mib", "--first-frame-timeout", "--frame-timeout",
];
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
GlibcMemory.UseMappingsForLargeBlocks();
try
{
    var model = ServerSetup.ModelFiles(line);
    var measurements = ServerSetup.Measurements(line, model);
    if (line.Verb == "measure")
    {
        Console.WriteLine(ServerSetup.MeasurementsJson(measurements));
        return 0;
    }

    var options = ServerSetup.Options(line);
    MemoryBudget.LimitManagedHeap(options.MemoryBudgetBytes);
    var kms = ServerSetup.Kms(line);
    var keyPolicy = ServerSetup.RecipientKeyPolicy(line);
    using var securityModule = ServerSetup.SecurityModule(line, measurements, out var rootCertificatePem);
    using var detector = model is null ? null : ServerSetup.Detector(line, model.Value);
    var securityModuleAccess = new SecurityModuleAccess(securityModule);
    using var keys = kms is null || detector is null ? null : new NitroEnclave.Kms.RecipientKeys(securityModuleAccess.AttestRecipientKey, keyPolicy);

    // Warm start: the detector's first run and the first key pair with its document happen before the ready line.
    detector?.WarmUp();
    if (keys is not null)
    {
        await keys.WarmUpAsync(CancellationToken.None).ConfigureAwait(false);
    }

    var description = new ServerDescription
    {
        Server = "NitroEnclave.EnclaveHost",
        Version = HostInfo.Version,
        SecurityModule = line.Value("--nsm") ?? "device",
        DebugMode = line.Has("--debug-mode"),
        KmsConfigured = kms is not null,
        Model = detector?.ModelName,
        Labels = detector?.Labels.Where(l => l.Length > 0).ToList() ?? [],
        MaxImagePixels = ServerSetup.MaxImagePixels(line),
        MaxFrameBytes = options.MaxFrameBytes,
        MaxConcurrentRequests = options.MaxConcurrentRequests,
        RequestTimeoutSeconds = (int)options.RequestTimeout.TotalSeconds,
    };

    var detection = keys is null ? null : new DetectionService(detector!, kms!, keys);
    var handler = new RequestHandler(description, securityModuleAccess, detection);
    await using var server = new EnclaveServer(options, handler, log);
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

    log.Info("ready", ("endpoint", endpoint.ToString()), ("securityModule", description.SecurityModule), ("kms", kms?.ToString()), ("model", description.Model), ("memoryBudgetMiB", options.MemoryBudgetBytes >> 20));
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
