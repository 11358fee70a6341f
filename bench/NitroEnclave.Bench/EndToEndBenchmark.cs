using System.Diagnostics;
using System.Globalization;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Detection;
using NitroEnclave.Envelope;
using NitroEnclave.Hosting;
using NitroEnclave.LocalKms.Hosting;
using NitroEnclave.Protocol;

namespace NitroEnclave.Bench;

/// <summary>
/// The main path as a user runs it, against the detector alone: the NativeAOT enclave server as its own process
/// (simulated security module), the local KMS on loopback, Detect requests over TCP with reused connections. Issue 15
/// targets on this machine: end-to-end images/s at least 0.8 of the detector alone, air-show.jpg p50 under 80 ms, the
/// first request after start within 1.5 times the steady p50, server peak RSS under 256 MiB.
/// </summary>
internal static class EndToEndBenchmark
{
    private static readonly string[] Stages = ["kms", "decrypt", "decode", "preprocess", "inference", "postprocess"];
    private static readonly int[] ClientCounts = [1, 2, 8];
    private static readonly string[] ServerProjects = ["src/EnclaveHost", "src/NitroEnclave.Trusted", "src/NitroEnclave.Detection"];

    public static void Run(TextWriter report)
    {
        var root = DetectionBenchmark.RepositoryRoot();
        var loadBefore = LoadAverage();
        var executable = PublishedServer(root);
        using var bench = Bench.Start(root, executable);
        var airShow = bench.Encrypt(File.ReadAllBytes(Path.Combine(root, "tests", "data", "detection", "air-show.jpg")));
        var photo = bench.Encrypt(DetectionBenchmark.Photo640x480(root));

        // The server's defaults on this machine: one inference thread per request it processes at once (see the split below).
        var concurrency = Environment.ProcessorCount;
        var threads = Math.Max(1, Environment.ProcessorCount / concurrency);
        var alone = DetectorAlone(root, threads);

        using var server = bench.StartServer();
        var large = Latencies(server.Client, bench.Credentials, airShow, 20);
        var small = Latencies(server.Client, bench.Credentials, photo, 40);
        var paced = Latencies(server.Client, bench.Credentials, photo, 20, pause: TimeSpan.FromMilliseconds(500));
        var throughput = ClientCounts.ToDictionary(c => c, c => Throughput(server.Client, bench.Credentials, photo, c, 12));
        var peakRss = Measure.PeakRssMiB(server.Process.ProcessId);

        var firsts = new List<(double Ready, Sample First)>();
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            using var fresh = bench.StartServer();
            var ready = watch.Elapsed.TotalMilliseconds;
            firsts.Add((ready, Latencies(fresh.Client, bench.Credentials, airShow, 1, warmUp: 0)[0]));
        }

        List<Sample> perRequest;
        double perRequestThroughput;
        using (var fresh = bench.StartServer("--recipient-key", "per-request"))
        {
            perRequest = Latencies(fresh.Client, bench.Credentials, photo, 20);
            perRequestThroughput = Throughput(fresh.Client, bench.Credentials, photo, 2, 12);
            peakRss = Math.Max(peakRss, Measure.PeakRssMiB(fresh.Process.ProcessId));
        }

        var split = new List<(int Threads, int Concurrency, List<Sample> Latency, double Throughput)>();
        foreach (var (t, c) in new[] { (1, 1), (2, 1), (1, 2), (2, 2) })
        {
            using var fresh = bench.StartServer("--threads", Text(t), "--max-concurrency", Text(c));
            split.Add((t, c, Latencies(fresh.Client, bench.Credentials, airShow, 10), Throughput(fresh.Client, bench.Credentials, photo, 4, 10)));
        }

        // Confidential results: the same server; the enclave also makes a data key (GenerateDataKey with Recipient) per
        // output and encrypts the result (and, with annotate, the drawn JPEG) as Encryption SDK messages.
        var confidential = new List<(string Name, List<double> Open, List<(double RoundTrip, double Encrypt, double Annotate)> Confidential)>();
        foreach (var (name, file, annotate) in new[] { ("640 x 480 photo", photo, false), ("air-show.jpg", airShow, false), ("air-show.jpg, annotated", airShow, true) })
        {
            var open = Latencies(server.Client, bench.Credentials, file, 10).Select(s => s.RoundTrip).ToList();
            confidential.Add((name, open, ConfidentialLatencies(server.Client, bench.Credentials, bench.ResultKeyArn, file, annotate, 10)));
        }

        var loadAfter = LoadAverage();

        report.WriteLine("## End to end (Invoke-EnclaveDetection's path) against the detector alone");
        report.WriteLine();
        report.WriteLine($"NativeAOT EnclaveHost as its own process with its defaults ({threads} inference thread(s), {concurrency} requests at once, a reused Recipient key pair), simulated security module, the local KMS in the benchmark's process, TCP loopback, one reused connection per client. Load average (1 min) before: {loadBefore}, after: {loadAfter} (the machine is shared: other work competes for its 2 cores).");
        report.WriteLine();
        report.WriteLine("| image, arrival | requests | p50 | p99 | detector alone in-process (p50) | detector's own time in the server (p50) | overhead beyond the detector (p50) | of which KMS step (p50) |");
        report.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        LatencyRow(report, "air-show.jpg, 3994 x 3235, back to back", large, alone.AirShow);
        LatencyRow(report, "640 x 480 photo, back to back", small, alone.Photo);
        LatencyRow(report, "640 x 480 photo, one every 0.5 s", paced, alone.Photo);
        report.WriteLine();
        report.WriteLine("Overhead = the round trip as the client sees it minus the detector's decode, preprocess, inference and postprocess in the server. The KMS step: a lease on the current key pair and its document, KMS Decrypt with Recipient (the local KMS verifies the document's certificate chain), opening CiphertextForRecipient.");
        report.WriteLine();

        report.WriteLine("| concurrent clients | requests | end to end (640 x 480) | detector alone, same threads, as many callers (up to the server's concurrency) | ratio |");
        report.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (var (clients, imagesPerSecond) in throughput)
        {
            var callers = Math.Min(clients, concurrency);
            var ceiling = alone.Throughput[callers];
            report.WriteLine(FormattableString.Invariant($"| {clients} | {clients * 12} | {imagesPerSecond:F1} images/s | {ceiling:F1} images/s ({callers} caller(s)) | {imagesPerSecond / ceiling:F2} |"));
        }

        report.WriteLine();
        report.WriteLine("### Where the time goes (p50 per stage, back to back, one client)");
        report.WriteLine();
        report.WriteLine("| stage | air-show.jpg (3994 x 3235, " + Kib(airShow) + " encrypted) | 640 x 480 photo (" + Kib(photo) + " encrypted) |");
        report.WriteLine("|---|---:|---:|");
        report.WriteLine(FormattableString.Invariant($"| client, transfer, framing and CBOR (round trip minus the server's total) | {Median(large.Select(s => s.RoundTrip - s.Server)):F1} ms | {Median(small.Select(s => s.RoundTrip - s.Server)):F1} ms |"));
        foreach (var stage in Stages)
        {
            report.WriteLine(FormattableString.Invariant($"| {stage} | {Median(large.Select(s => s.Stages[stage])):F1} ms | {Median(small.Select(s => s.Stages[stage])):F1} ms |"));
        }

        report.WriteLine(FormattableString.Invariant($"| server, outside the stages (request handling, response) | {Median(large.Select(s => s.Server - Stages.Sum(st => s.Stages[st]))):F1} ms | {Median(small.Select(s => s.Server - Stages.Sum(st => s.Stages[st]))):F1} ms |"));
        report.WriteLine(FormattableString.Invariant($"| round trip | {Median(large.Select(s => s.RoundTrip)):F1} ms | {Median(small.Select(s => s.RoundTrip)):F1} ms |"));
        report.WriteLine();
        report.WriteLine("What grows with the image: its transfer (linear in the file's bytes), decryption (linear, AES-GCM) and decoding (linear in the pixels, reduced by the scaled JPEG decode); KMS, preprocessing (the model's input is always 300 x 300), inference and postprocessing do not depend on the image's size.");
        report.WriteLine();

        var steady = Median(large.Select(s => s.RoundTrip));
        var first = Median(firsts.Select(f => f.First.RoundTrip));
        report.WriteLine("### First request after start (3 fresh servers, air-show.jpg)");
        report.WriteLine();
        report.WriteLine("| | start to ready | round trip | client, transfer | " + string.Join(" | ", Stages) + " |");
        report.WriteLine("|---|---:|---:|---:|" + string.Concat(Stages.Select(_ => "---:|")));
        foreach (var (ready, sample) in firsts)
        {
            report.WriteLine(FormattableString.Invariant($"| first request | {ready:F0} ms | {sample.RoundTrip:F1} ms | {sample.RoundTrip - sample.Server:F1} ms | ") + string.Join(" | ", Stages.Select(st => Text(sample.Stages[st]) + " ms")) + " |");
        }

        report.WriteLine(FormattableString.Invariant($"| steady (p50 above) | | {steady:F1} ms | {Median(large.Select(s => s.RoundTrip - s.Server)):F1} ms | ") + string.Join(" | ", Stages.Select(st => Text(Median(large.Select(s => s.Stages[st]))) + " ms")) + " |");
        report.WriteLine();
        report.WriteLine(FormattableString.Invariant($"First request / steady p50: {first / steady:F2} (target at most 1.5). Warm start: before its ready line the server runs the detector on two blank JPEGs (one for each JPEG decoder) and puts its first key pair and document in place; the KMS client for the caller's credentials and its HTTP connection are made by the first request."));
        report.WriteLine();

        report.WriteLine("### A fresh Recipient key pair per request (`--recipient-key per-request`)");
        report.WriteLine();
        report.WriteLine("| mode | p50 (640 x 480, back to back) | KMS step (p50) | images/s, 2 clients |");
        report.WriteLine("|---|---:|---:|---:|");
        report.WriteLine(FormattableString.Invariant($"| reuse (default) | {Median(small.Select(s => s.RoundTrip)):F1} ms | {Median(small.Select(s => s.Stages["kms"])):F1} ms | {throughput[2]:F1} |"));
        report.WriteLine(FormattableString.Invariant($"| per-request | {Median(perRequest.Select(s => s.RoundTrip)):F1} ms | {Median(perRequest.Select(s => s.Stages["kms"])):F1} ms | {perRequestThroughput:F1} |"));
        report.WriteLine();
        report.WriteLine("Per request, the key pairs are generated ahead in the background, but each costs tens of milliseconds of CPU that detection no longer has.");
        report.WriteLine();

        report.WriteLine("### Inference threads against requests at once (2 cores)");
        report.WriteLine();
        report.WriteLine("| --threads | --max-concurrency | air-show.jpg p50, one client | images/s, 640 x 480, 4 clients |");
        report.WriteLine("|---:|---:|---:|---:|");
        foreach (var (t, c, latency, imagesPerSecond) in split)
        {
            report.WriteLine(FormattableString.Invariant($"| {t} | {c} | {Median(latency.Select(s => s.RoundTrip)):F1} ms | {imagesPerSecond:F1} |"));
        }

        report.WriteLine();
        report.WriteLine("The server's default is one inference thread per request processed at once (threads = CPUs / --max-concurrency): more threads than cores make ONNX Runtime's spinning workers of concurrent requests compete for the same cores.");
        report.WriteLine();
        report.WriteLine("### Confidential results (`-ResultKeyId`), back to back, one client, the same server");
        report.WriteLine();
        report.WriteLine("| image | open p50 | confidential p50 | of which encrypt (GenerateDataKey with Recipient, ESDK encryption) | of which annotate |");
        report.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (name, open, secret) in confidential)
        {
            report.WriteLine(FormattableString.Invariant($"| {name} | {Median(open):F1} ms | {Median(secret.Select(c => c.RoundTrip)):F1} ms | {Median(secret.Select(c => c.Encrypt)):F1} ms | {(secret.Any(c => c.Annotate > 0) ? Text(Median(secret.Select(c => c.Annotate))) + " ms" : "-")} |"));
        }

        report.WriteLine();
        report.WriteLine("The result key's policy lets only the attested enclave make data keys (the local KMS verifies its attestation document as for Decrypt); one data key per output file.");
        report.WriteLine();
        report.WriteLine(FormattableString.Invariant($"Server peak RSS (the default server after all of the above, and the per-request server): {peakRss:F1} MiB (target under 256 MiB)."));
        report.WriteLine();
    }

    private sealed record Sample(double RoundTrip, double Server, double Detector, IReadOnlyDictionary<string, double> Stages);

    private sealed record Alone(double AirShow, double Photo, Dictionary<int, double> Throughput);

    /// <summary>The detector in this process with the server's thread count: p50 per image, and images/s with 1 and 2 callers.</summary>
    private static Alone DetectorAlone(string root, int threads)
    {
        using var detector = ObjectDetector.Create(new DetectorOptions
        {
            ModelPath = Path.Combine(root, "models", DetectorOptions.DefaultModelFileName),
            IntraOpThreads = threads,
        });
        var airShow = File.ReadAllBytes(Path.Combine(root, "tests", "data", "detection", "air-show.jpg"));
        var photo = DetectionBenchmark.Photo640x480(root);
        var large = Measure.All(20, () => detector.Detect(airShow));
        var small = Measure.All(40, () => detector.Detect(photo));
        var rates = new Dictionary<int, double>();
        foreach (var callers in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            const int PerCaller = 20;
            var watch = Stopwatch.StartNew();
            Parallel.For(0, callers, new ParallelOptions { MaxDegreeOfParallelism = callers }, _ =>
            {
                for (var i = 0; i < PerCaller; i++)
                {
                    detector.Detect(photo);
                }
            });
            rates[callers] = callers * PerCaller / watch.Elapsed.TotalSeconds;
        }

        return new Alone(Measure.Percentile(large, 50), Measure.Percentile(small, 50), rates);
    }

    private static List<Sample> Latencies(EnclaveClient client, AwsCallerCredentials credentials, byte[] file, int runs, TimeSpan? pause = null, int warmUp = 2)
    {
        var samples = new List<Sample>();
        for (var i = -warmUp; i < runs; i++)
        {
            if (pause is { } wait)
            {
                Thread.Sleep(wait);
            }

            var watch = Stopwatch.StartNew();
            var response = client.DetectAsync(new DetectRequest { EncryptedFile = file, Credentials = credentials }, CancellationToken.None).GetAwaiter().GetResult();
            var roundTrip = watch.Elapsed.TotalMilliseconds;
            if (i >= 0)
            {
                var t = response.Timings;
                samples.Add(new Sample(roundTrip, t["total"], t["decode"] + t["preprocess"] + t["inference"] + t["postprocess"], t));
            }
        }

        return samples;
    }

    private static List<(double RoundTrip, double Encrypt, double Annotate)> ConfidentialLatencies(EnclaveClient client, AwsCallerCredentials credentials, string resultKey, byte[] file, bool annotate, int runs)
    {
        var samples = new List<(double, double, double)>();
        for (var i = -2; i < runs; i++)
        {
            var request = new DetectRequest
            {
                EncryptedFile = file,
                Credentials = credentials,
                Result = new ConfidentialResultRequest { KeyId = resultKey, InputName = "input.jpg.enc", Annotate = annotate },
            };
            var watch = Stopwatch.StartNew();
            var response = client.DetectConfidentialAsync(request, CancellationToken.None).GetAwaiter().GetResult();
            var roundTrip = watch.Elapsed.TotalMilliseconds;
            if (i >= 0)
            {
                samples.Add((roundTrip, response.Timings["encrypt"], response.Timings.GetValueOrDefault("annotate")));
            }
        }

        return samples;
    }

    private static double Throughput(EnclaveClient client, AwsCallerCredentials credentials, byte[] file, int clients, int perClient)
    {
        var watch = Stopwatch.StartNew();
        Task.WaitAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < perClient; i++)
            {
                await client.DetectAsync(new DetectRequest { EncryptedFile = file, Credentials = credentials }, CancellationToken.None);
            }
        })).ToArray());
        return clients * perClient / watch.Elapsed.TotalSeconds;
    }

    private static void LatencyRow(TextWriter report, string name, List<Sample> samples, double alone)
    {
        var roundTrips = samples.Select(s => TimeSpan.FromMilliseconds(s.RoundTrip)).ToList();
        report.WriteLine(FormattableString.Invariant(
            $"| {name} | {samples.Count} | {Measure.Percentile(roundTrips, 50):F1} ms | {Measure.Percentile(roundTrips, 99):F1} ms | {alone:F1} ms | {Median(samples.Select(s => s.Detector)):F1} ms | {Median(samples.Select(s => s.RoundTrip - s.Detector)):F1} ms | {Median(samples.Select(s => s.Stages["kms"])):F1} ms |"));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static string Text(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Kib(byte[] file) => FormattableString.Invariant($"{file.Length / 1024} KiB");

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>The NativeAOT server in out/enclavehost-aot, published again when a source file of it is newer.</summary>
    private static string PublishedServer(string root)
    {
        var output = Path.Combine(root, "out", "enclavehost-aot");
        var server = Path.Combine(output, "EnclaveHost");
        var newestSource = ServerProjects
            .SelectMany(project => Directory.EnumerateFiles(Path.Combine(root, project), "*.cs*", SearchOption.AllDirectories))
            .Where(file => !file.Contains("/obj/", StringComparison.Ordinal) && !file.Contains("/bin/", StringComparison.Ordinal))
            .Max(File.GetLastWriteTimeUtc);
        if (!File.Exists(server) || File.GetLastWriteTimeUtc(server) < newestSource)
        {
            Console.Error.WriteLine("publishing the NativeAOT server into out/enclavehost-aot ...");
            using var publish = Process.Start(new ProcessStartInfo("dotnet", ["publish", Path.Combine(root, "src", "EnclaveHost"), "-c", "Release", "-r", "linux-x64", "-o", output, "-nologo", "-v", "quiet"]))!;
            publish.WaitForExit();
            if (publish.ExitCode != 0)
            {
                throw new InvalidOperationException("dotnet publish of the enclave server failed");
            }
        }

        return server;
    }

    /// <summary>The local KMS, the simulated module's state, a key only the server's PCR0 may use, and servers to start.</summary>
    private sealed class Bench : IDisposable
    {
        private readonly string _state;
        private readonly string _executable;
        private readonly string _nsmState;
        private readonly LocalKmsServer _kms;
        private readonly AmazonKeyManagementServiceClient _admin;
        private string? _keyArn;

        private Bench(string state, string executable, string nsmState, LocalKmsServer kms)
        {
            _state = state;
            _executable = executable;
            _nsmState = nsmState;
            _kms = kms;
            _admin = new AmazonKeyManagementServiceClient(
                new BasicAWSCredentials(kms.AdminAccessKeyId, kms.AdminSecretAccessKey),
                new AmazonKeyManagementServiceConfig { ServiceURL = kms.Endpoint.ToString(), AuthenticationRegion = kms.Region });
            Credentials = new AwsCallerCredentials { AccessKeyId = kms.AdminAccessKeyId, SecretAccessKey = kms.AdminSecretAccessKey, Region = kms.Region };
        }

        public AwsCallerCredentials Credentials { get; }

        public string ResultKeyArn { get; private set; } = string.Empty;

        public static Bench Start(string root, string executable)
        {
            var state = Directory.CreateTempSubdirectory("bench-e2e-").FullName;
            var nsmState = Path.Combine(state, "nsm");
            using (var chain = SimulatedNsmChain.Create())
            {
                chain.Save(nsmState);
            }

            var kms = LocalKmsServer.StartAsync(new LocalKmsOptions
            {
                DataPath = Path.Combine(state, "kms"),
                TrustedRoots = AttestationVerifier.ReadPemCertificates(File.ReadAllText(Path.Combine(nsmState, "root.pem"))),
            }).GetAwaiter().GetResult();
            var bench = new Bench(state, executable, nsmState, kms);

            // Every server started from this executable and model measures the same PCR0, so one key serves them all.
            using (var probe = bench.StartServer())
            {
                var pcr0 = probe.Process.Ready.GetProperty("pcrs").GetProperty("PCR0").GetString()!;
                bench._keyArn = LockedKey(bench._admin, kms.AccountId, pcr0);
                bench.ResultKeyArn = ResultKey(bench._admin, kms.AccountId, pcr0);
            }

            return bench;
        }

        public RunningServer StartServer(params string[] extra)
        {
            string[] arguments = ["serve", "--listen", "tcp://127.0.0.1:0", "--nsm", "simulated", "--nsm-state", _nsmState, "--kms-endpoint", _kms.Endpoint.ToString(), .. extra];
            var process = ReadyProcess.Start(_executable, arguments, logPath: "/dev/null", TimeSpan.FromSeconds(60), CancellationToken.None);
            return new RunningServer(process, new EnclaveClient(EnclaveEndpoint.Parse(process.Ready.GetProperty("endpoint").GetString()!), TimeSpan.FromSeconds(120), reuseConnections: true));
        }

        public byte[] Encrypt(byte[] plaintext)
        {
            using var provider = new KmsDataKeyProvider(_admin);
            var output = new MemoryStream();
            EnvelopeEncryptor.EncryptAsync(new MemoryStream(plaintext), output, provider, new EnvelopeEncryptOptions { KeyId = _keyArn! }).GetAwaiter().GetResult();
            return output.ToArray();
        }

        public void Dispose()
        {
            _admin.Dispose();
            _kms.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Directory.Delete(_state, recursive: true);
        }

        private static string LockedKey(AmazonKeyManagementServiceClient admin, string account, string pcr0)
        {
            var policy = $$$"""
                {"Version": "2012-10-17", "Statement": [
                  {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::{{{account}}}:user/admin"}, "Action": "kms:*", "Resource": "*"},
                  {"Sid": "OnlyTheEnclave", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:ReEncrypt*"], "Resource": "*",
                   "Condition": {"StringNotEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{pcr0}}}"} } }
                ]}
                """;
            return admin.CreateKeyAsync(new CreateKeyRequest { Policy = policy, BypassPolicyLockoutSafetyCheck = true }).GetAwaiter().GetResult().KeyMetadata.Arn;
        }
        private static string ResultKey(AmazonKeyManagementServiceClient admin, string account, string pcr0)
        {
            var policy = $$$"""
                {"Version": "2012-10-17", "Statement": [
                  {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::{{{account}}}:user/admin"}, "Action": "kms:*", "Resource": "*"},
                  {"Sid": "OnlyTheEnclaveMakesResults", "Effect": "Deny", "Principal": "*", "Action": ["kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"], "Resource": "*",
                   "Condition": {"StringNotEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{pcr0}}}"} } }
                ]}
                """;
            return admin.CreateKeyAsync(new CreateKeyRequest { Policy = policy, BypassPolicyLockoutSafetyCheck = true }).GetAwaiter().GetResult().KeyMetadata.Arn;
        }
    }

    /// <summary>A server process with a client that reuses its connections; disposing stops both.</summary>
    private sealed class RunningServer(ReadyProcess process, EnclaveClient client) : IDisposable
    {
        public ReadyProcess Process { get; } = process;

        public EnclaveClient Client { get; } = client;

        public void Dispose()
        {
            Client.Dispose();
            Process.Dispose();
        }
    }
}
