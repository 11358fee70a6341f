using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Kms;
using NitroEnclave.LocalKms.Hosting;

namespace NitroEnclave.Bench;

/// <summary>
/// The local KMS on loopback, driven through the AWS SDK for .NET: Decrypt with a Recipient (attestation document
/// verified, policy with a PCR0 condition evaluated, CMS envelope for the enclave's RSA key) against plain Decrypt on
/// the same key, one client at a time (latency) and eight at once (throughput).
/// </summary>
internal static class LocalKmsBenchmark
{
    private const int LatencyRuns = 300;
    private const int Concurrency = 8;
    private static readonly TimeSpan ThroughputWindow = TimeSpan.FromSeconds(3);

    public static void Run(TextWriter output) => RunAsync(output).GetAwaiter().GetResult();

    private static async Task RunAsync(TextWriter output)
    {
        var dataPath = Directory.CreateTempSubdirectory("localkms-bench-").FullName;
        var pcr0 = SHA384.HashData("benchmark image"u8);
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions().WithPcr(0, pcr0));
        using var enclaveKey = RSA.Create(2048);
        try
        {
            await using var server = await LocalKmsServer.StartAsync(new LocalKmsOptions { DataPath = dataPath, TrustedRoots = [nsm.Root] });
            using var kms = new AmazonKeyManagementServiceClient(
                new BasicAWSCredentials(server.AdminAccessKeyId, server.AdminSecretAccessKey),
                new AmazonKeyManagementServiceConfig { ServiceURL = server.Endpoint.ToString(), AuthenticationRegion = server.Region, MaxErrorRetry = 0 });

            var policy = "{\"Statement\":[" +
                "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}," +
                "{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":{\"StringNotEqualsIgnoreCase\":" +
                $"{{\"kms:RecipientAttestation:PCR0\":\"{Convert.ToHexStringLower(pcr0)}\"}}}}}}]}}";
            var keyId = (await kms.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata.KeyId;
            var context = new Dictionary<string, string> { ["model"] = "bench" };
            var blob = (await kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = new MemoryStream(RandomNumberGenerator.GetBytes(32)), EncryptionContext = context })).CiphertextBlob.ToArray();
            // The comparison: the same work without attestation, on a key with the default policy.
            var plainKeyId = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
            var plainBlob = (await kms.EncryptAsync(new EncryptRequest { KeyId = plainKeyId, Plaintext = new MemoryStream(RandomNumberGenerator.GetBytes(32)), EncryptionContext = context })).CiphertextBlob.ToArray();
            var document = nsm.Attestation(publicKey: enclaveKey.ExportSubjectPublicKeyInfo());

            DecryptRequest WithRecipient() => new()
            {
                CiphertextBlob = new MemoryStream(blob),
                EncryptionContext = context,
                Recipient = new RecipientInfo { AttestationDocument = new MemoryStream(document), KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256 },
            };
            DecryptRequest Plain() => new() { CiphertextBlob = new MemoryStream(plainBlob), EncryptionContext = context };

            // Check the path once end to end before timing it.
            var check = await kms.DecryptAsync(WithRecipient());
            RecipientEnvelope.Open(check.CiphertextForRecipient.ToArray(), enclaveKey);

            var recipientLatency = Measure.All(LatencyRuns, () => kms.DecryptAsync(WithRecipient()).GetAwaiter().GetResult());
            var plainLatency = Measure.All(LatencyRuns, () => kms.DecryptAsync(Plain()).GetAwaiter().GetResult());
            var recipientRate = await ThroughputAsync(() => kms.DecryptAsync(WithRecipient()));
            var plainRate = await ThroughputAsync(() => kms.DecryptAsync(Plain()));
            var openTime = Measure.Best(50, () => RecipientEnvelope.Open(check.CiphertextForRecipient.ToArray(), enclaveKey));

            output.WriteLine("## Local KMS: Decrypt with Recipient on loopback");
            output.WriteLine();
            output.WriteLine("Through the AWS SDK for .NET (SigV4, JSON 1.1) to the in-process server on 127.0.0.1. With Recipient, each request");
            output.WriteLine("verifies the attestation document (ES384 signature, certificate chain to the simulated root), evaluates a PCR0 condition and seals the");
            output.WriteLine("32-byte plaintext in a CMS envelope (RSA-2048 OAEP-SHA256 + AES-256-CBC).");
            output.WriteLine();
            output.WriteLine("| request | p50 latency (ms) | p99 latency (ms) | requests/s, 1 client | requests/s, " + Concurrency.ToString(CultureInfo.InvariantCulture) + " clients |");
            output.WriteLine("|---|---|---|---|---|");
            Row(output, "Decrypt with Recipient", recipientLatency, recipientRate);
            Row(output, "Decrypt (plain, comparison)", plainLatency, plainRate);
            output.WriteLine();
            output.WriteLine(FormattableString.Invariant($"Enclave side: RecipientEnvelope.Open takes {openTime.TotalMilliseconds:F2} ms (RSA-2048 private-key decryption)."));
            output.WriteLine();
        }
        finally
        {
            Directory.Delete(dataPath, recursive: true);
        }
    }

    private static void Row(TextWriter output, string name, List<TimeSpan> latency, double concurrentRate) =>
        output.WriteLine(FormattableString.Invariant(
            $"| {name} | {Measure.Percentile(latency, 50):F2} | {Measure.Percentile(latency, 99):F2} | {latency.Count / latency.Sum(t => t.TotalSeconds):F0} | {concurrentRate:F0} |"));

    private static async Task<double> ThroughputAsync(Func<Task> call)
    {
        var watch = Stopwatch.StartNew();
        var count = 0;
        var workers = Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            while (watch.Elapsed < ThroughputWindow)
            {
                await call();
                Interlocked.Increment(ref count);
            }
        });
        await Task.WhenAll(workers);
        return count / watch.Elapsed.TotalSeconds;
    }
}
