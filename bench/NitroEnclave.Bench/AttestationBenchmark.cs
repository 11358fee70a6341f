using System.Diagnostics;
using NitroEnclave.Attestation;

namespace NitroEnclave.Bench;

/// <summary>
/// Attestation documents verified per second: parse plus the full check (ES384 signature, four chain signatures,
/// names, constraints, validity at two times, field rules), on the real 2026 document against the AWS root and on a
/// simulated module's document. Also how fast the simulated module issues documents.
/// </summary>
internal static class AttestationBenchmark
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(2);

    public static void Run(TextWriter report)
    {
        var real = Convert.FromBase64String(File.ReadAllText(Path.Combine(RepositoryRoot(), "tests", "data", "attestation", "enclave-2026-02-02.b64")).Trim());
        var realTime = AttestationDocument.Parse(real).Timestamp;
        var aws = new AttestationVerifier();
        using var nsm = new SimulatedNsm();
        var simulated = nsm.Attestation(nonce: [1, 2, 3]);
        var own = new AttestationVerifier([nsm.Root]);

        var parse = Rate(() => AttestationDocument.Parse(real));
        var verifyReal = Rate(() => Require(aws.Verify(real, null, realTime)));
        var verifySimulated = Rate(() => Require(own.Verify(simulated)));
        var parallel = ParallelRate(() => Require(new AttestationVerifier().Verify(real, null, realTime)));
        var issue = Rate(() => nsm.Attestation(nonce: [1, 2, 3]));

        report.WriteLine("## Attestation (Test-EnclaveAttestation, SimulatedNsm)");
        report.WriteLine();
        report.WriteLine($"Each figure is the count over {Duration.TotalSeconds:F0} s after a warm-up. Verification is parse plus the full chain: leaf -> 3 intermediates -> root for the real document (5 ECDSA P-384 verifications), leaf -> 2 intermediates -> root for the simulated one (4).");
        report.WriteLine();
        report.WriteLine("| what | per second | per document |");
        report.WriteLine("|---|---:|---:|");
        Row(report, "parse the real 2026 document (CBOR, COSE, 5 certificates)", parse);
        Row(report, "verify the real 2026 document against the AWS root, one thread", verifyReal);
        Row(report, $"verify the real 2026 document, {Environment.ProcessorCount} threads", parallel);
        Row(report, "verify a simulated document against its root, one thread", verifySimulated);
        Row(report, "SimulatedNsm: issue a document (encode request, sign, decode response)", issue);
        report.WriteLine();
    }

    private static void Require(AttestationResult result)
    {
        if (!result.IsValid)
        {
            throw new InvalidOperationException("benchmark document did not verify: " + string.Join("; ", result.Failures));
        }
    }

    private static double Rate(Action action)
    {
        action();
        var count = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Duration)
        {
            action();
            count++;
        }

        return count / watch.Elapsed.TotalSeconds;
    }

    private static double ParallelRate(Action action)
    {
        action();
        var count = 0;
        var watch = Stopwatch.StartNew();
        Parallel.For(0, Environment.ProcessorCount, _ =>
        {
            while (watch.Elapsed < Duration)
            {
                action();
                Interlocked.Increment(ref count);
            }
        });
        return count / watch.Elapsed.TotalSeconds;
    }

    private static void Row(TextWriter report, string what, double perSecond) =>
        report.WriteLine($"| {what} | {perSecond:F0} | {1000 / perSecond:F2} ms |");

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "NitroEnclave.psd1")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
