using System.Text;
using System.Text.Json;
using NitroEnclave.Attestation;
using NitroEnclave.Detection;
using NitroEnclave.Eif;
using NitroEnclave.Kms;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>Builds the server's parts from its command line.</summary>
internal static class ServerSetup
{
    public static ServerOptions Options(CommandLine line)
    {
        var defaults = new ServerOptions();
        var options = new ServerOptions
        {
            Listen = line.Value("--listen") is { } listen ? EnclaveEndpoint.Parse(listen) : defaults.Listen,
            MaxFrameBytes = line.WholeNumber("--max-frame-bytes", Framing.DefaultMaxFrameSize, min: 1024),
            MaxConnections = line.WholeNumber("--max-connections", defaults.MaxConnections, min: 1),
            MaxConcurrentRequests = line.WholeNumber("--max-concurrency", Environment.ProcessorCount, min: 1),
            MemoryBudgetBytes = (long)line.WholeNumber("--memory-budget-mib", (int)ServerOptions.DefaultMemoryBudgetMiB, min: 16) << 20,
            FirstFrameTimeout = line.Seconds("--first-frame-timeout", defaults.FirstFrameTimeout),
            IdleTimeout = line.Seconds("--idle-timeout", defaults.IdleTimeout),
            FrameTimeout = line.Seconds("--frame-timeout", defaults.FrameTimeout),
            RequestTimeout = line.Seconds("--request-timeout", defaults.RequestTimeout),
        };

        // A frame is held twice while it is decoded (the frame and the file copied out of it).
        if (2L * options.MaxFrameBytes > options.MemoryBudgetBytes)
        {
            throw new UsageException($"--memory-budget-mib must hold two frames of --max-frame-bytes ({options.MaxFrameBytes} bytes): at least {((2L * options.MaxFrameBytes) + (1 << 20) - 1) >> 20}");
        }

        return options;
    }

    /// <summary>The PCRs for a simulated module: an EIF's, or this server's own files (executable, model, labels).</summary>
    public static EnclaveMeasurements Measurements(CommandLine line, (string Model, string Labels)? model)
    {
        if (line.Value("--pcrs-from-eif") is not { } eif)
        {
            return SelfMeasurement.Compute(SelfMeasurement.CurrentExecutable(), model is { } m ? [m.Model, m.Labels] : []);
        }

        try
        {
            return EnclaveImageReader.Read(eif).Measurements;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A startup error the log names, not an unhandled exception that aborts the process.
            throw new NitroEnclaveException(ImageUnreadable, ErrorKind.NotFound, $"--pcrs-from-eif: cannot read '{eif}': {ex.Message}", ex);
        }
    }

    public const string ImageUnreadable = "EnclaveImageUnreadable";

    /// <summary>The model and labels: as given, or the default model beside the server when it is there; null without one.</summary>
    public static (string Model, string Labels)? ModelFiles(CommandLine line)
    {
        var model = line.Value("--model") ?? Path.Combine(AppContext.BaseDirectory, "models", DetectorOptions.DefaultModelFileName);
        if (!File.Exists(model))
        {
            return line.Has("--model") ? throw new UsageException($"--model '{model}' does not exist") : null;
        }

        var labels = line.Value("--labels") ?? Path.ChangeExtension(model, ".labels.txt");
        return File.Exists(labels) ? (model, labels) : throw new UsageException($"the labels file '{labels}' does not exist (--labels)");
    }

    public static ObjectDetector Detector(CommandLine line, (string Model, string Labels) files) => ObjectDetector.Create(new DetectorOptions
    {
        ModelPath = files.Model,
        LabelsPath = files.Labels,
        IntraOpThreads = line.WholeNumber("--threads", DefaultThreads(line), min: 1),
        ScoreThreshold = DetectionService.ScoreFloor,
        MaxDetections = 100,
        MaxPixels = MaxImagePixels(line),
    });

    /// <summary>
    /// How the KMS Recipient key pair is used: reused within a lifetime and a number of uses (the default), or a
    /// never-used one per request. docs/threat-model.md, "Recipient key reuse", explains the bounds.
    /// </summary>
    public static RecipientKeyPolicy RecipientKeyPolicy(CommandLine line)
    {
        const int MaxLifetimeSeconds = 24 * 60 * 60;
        var policy = (line.Value("--recipient-key") ?? "reuse") switch
        {
            "reuse" => NitroEnclave.Kms.RecipientKeyPolicy.Reuse,
            "per-request" when line.Has("--recipient-key-max-uses") => throw new UsageException("--recipient-key-max-uses applies to --recipient-key reuse only"),
            "per-request" => NitroEnclave.Kms.RecipientKeyPolicy.FreshPerRequest,
            _ => throw new UsageException("--recipient-key is 'reuse' or 'per-request'"),
        };
        var lifetime = line.WholeNumber("--recipient-key-lifetime", (int)policy.Lifetime.TotalSeconds, min: 10);
        if (lifetime > MaxLifetimeSeconds)
        {
            throw new UsageException($"--recipient-key-lifetime is at most {MaxLifetimeSeconds} seconds (one day)");
        }

        return policy with { Lifetime = TimeSpan.FromSeconds(lifetime), MaxUses = line.WholeNumber("--recipient-key-max-uses", policy.MaxUses, min: 1) };
    }

    /// <summary>
    /// One share of the CPUs per request processed at once: inference threads beyond the cores make the spinning
    /// workers of concurrent requests compete for them (bench/results/e2e.md measures the split).
    /// </summary>
    public static int DefaultThreads(CommandLine line) =>
        Math.Max(1, Environment.ProcessorCount / line.WholeNumber("--max-concurrency", Environment.ProcessorCount, min: 1));

    public static long MaxImagePixels(CommandLine line) => line.WholeNumber("--max-image-pixels", (int)ImageDecoder.DefaultMaxPixels, min: 1);

    /// <summary>The KMS route, or null when none is configured (then the server answers Attest and Describe only).</summary>
    public static KmsRoute? Kms(CommandLine line)
    {
        if (line.Value("--kms-endpoint") is { } url)
        {
            return line.Has("--kms-proxy-port") ? throw new UsageException("give either --kms-endpoint or --kms-proxy-port") : KmsRoute.Direct(url);
        }

        return line.Has("--kms-proxy-port")
            ? KmsRoute.ThroughVsockProxy((uint)line.WholeNumber("--kms-proxy-cid", 3, min: 1), line.WholeNumber("--kms-proxy-port", 8000, min: 1))
            : null;
    }

    public static INitroSecurityModule SecurityModule(CommandLine line, EnclaveMeasurements measurements, out string? rootCertificatePem)
    {
        rootCertificatePem = null;
        switch (line.Value("--nsm") ?? "device")
        {
            case "device":
                if (line.Has("--nsm-state") || line.Has("--pcrs-from-eif") || line.Has("--debug-mode"))
                {
                    throw new UsageException("--nsm-state, --pcrs-from-eif and --debug-mode apply to --nsm simulated only");
                }

                return new NsmDevice();
            case "simulated":
                var chain = LoadOrCreateChain(line.Value("--nsm-state"));
                rootCertificatePem = chain.Root.ExportCertificatePem();
                var options = new SimulatedNsmOptions { DebugMode = line.Has("--debug-mode") }.WithMeasurements(measurements);
                return new SimulatedNsm(chain, options);
            default:
                throw new UsageException("--nsm is 'device' or 'simulated'");
        }
    }

    public static string MeasurementsJson(EnclaveMeasurements m)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("Measurements");
            json.WriteString("HashAlgorithm", "Sha384 { ... }");
            json.WriteString("PCR0", m.PCR0);
            json.WriteString("PCR1", m.PCR1);
            json.WriteString("PCR2", m.PCR2);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The line printed when the server can serve: where, what, and for a simulation the PCRs and root to trust.</summary>
    public static string ReadyLine(EnclaveEndpoint endpoint, ServerDescription description, EnclaveMeasurements? simulatedPcrs, string? rootCertificatePem)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event", "ready");
            json.WriteString("endpoint", endpoint.ToString());
            json.WriteNumber("pid", Environment.ProcessId);
            json.WriteString("version", description.Version);
            json.WriteString("securityModule", description.SecurityModule);
            json.WriteBoolean("debugMode", description.DebugMode);
            json.WriteBoolean("kmsConfigured", description.KmsConfigured);
            if (simulatedPcrs is not null)
            {
                json.WriteStartObject("pcrs");
                json.WriteString("PCR0", description.DebugMode ? ZeroPcr : simulatedPcrs.PCR0);
                json.WriteString("PCR1", description.DebugMode ? ZeroPcr : simulatedPcrs.PCR1);
                json.WriteString("PCR2", description.DebugMode ? ZeroPcr : simulatedPcrs.PCR2);
                json.WriteEndObject();
            }

            if (rootCertificatePem is not null)
            {
                json.WriteString("rootCertificate", rootCertificatePem);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static void WriteAtomically(string path, string text)
    {
        var temporary = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(temporary, text + "\n");
        File.Move(temporary, path, overwrite: true);
    }

    private static string ZeroPcr { get; } = new('0', 96);

    private static SimulatedNsmChain LoadOrCreateChain(string? directory)
    {
        if (directory is null)
        {
            return SimulatedNsmChain.Create();
        }

        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            return SimulatedNsmChain.Load(directory);
        }

        var chain = SimulatedNsmChain.Create();
        chain.Save(directory);
        return chain;
    }
}
