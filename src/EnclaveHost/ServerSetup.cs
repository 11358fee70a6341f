using System.Text;
using System.Text.Json;
using NitroEnclave.Attestation;
using NitroEnclave.Eif;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>Builds the server's parts from its command line.</summary>
internal static class ServerSetup
{
    public static ServerOptions Options(CommandLine line) => new()
    {
        Listen = line.Value("--listen") is { } listen ? EnclaveEndpoint.Parse(listen) : new ServerOptions().Listen,
        MaxFrameBytes = line.WholeNumber("--max-frame-bytes", Framing.DefaultMaxFrameSize, min: 1024),
        MaxConnections = line.WholeNumber("--max-connections", 64, min: 1),
        MaxConcurrentRequests = line.WholeNumber("--max-concurrency", Environment.ProcessorCount, min: 1),
        IdleTimeout = line.Seconds("--idle-timeout", TimeSpan.FromSeconds(30)),
        RequestTimeout = line.Seconds("--request-timeout", TimeSpan.FromSeconds(60)),
    };

    /// <summary>The PCRs for a simulated module: an EIF's, or this server's own files.</summary>
    public static EnclaveMeasurements Measurements(CommandLine line) =>
        line.Value("--pcrs-from-eif") is { } eif
            ? EnclaveImageReader.Read(eif).Measurements
            : SelfMeasurement.Compute(SelfMeasurement.CurrentExecutable(), []);

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
