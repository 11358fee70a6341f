using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NitroEnclave.Envelope;

namespace NitroEnclave.Bench;

/// <summary>
/// Envelope encryption throughput on a 1 GiB file (file to file, 64 KiB frames) against plain AES-256-GCM over the
/// same bytes in the same 64 KiB chunks, excluding the KMS call (a local data key provider), and the peak memory of a
/// process that encrypts and decrypts the file. Issue target: at least 0.8 of plain AES-GCM, under 64 MiB.
/// </summary>
internal static class EnvelopeBenchmark
{
    private const long Size = 1L << 30;
    private const int Chunk = 64 << 10;

    public static void Run(TextWriter report)
    {
        var directory = Directory.CreateTempSubdirectory("nitroenclave-bench-envelope").FullName;
        try
        {
            var plaintext = Path.Combine(directory, "plain.bin");
            WritePlaintext(plaintext);
            var provider = new LocalKeyProvider();
            var plain = Measure.Best(3, () => PlainAesGcm(plaintext, Path.Combine(directory, "plain.gcm")));
            report.WriteLine("## Envelope encryption (AWS Encryption SDK message format)");
            report.WriteLine();
            report.WriteLine($"File: {Size / 1048576} MiB, in the page cache; 64 KiB frames; data key from a local provider (no KMS call). Best of 3 runs after a warm-up.");
            report.WriteLine();
            report.WriteLine("| what | time | throughput | ratio to plain AES-256-GCM |");
            report.WriteLine("|---|---:|---:|---:|");
            var plainRate = Measure.MiBPerSecond(Size, plain);
            report.WriteLine($"| plain AES-256-GCM, 64 KiB chunks, file to file | {plain.TotalMilliseconds:F0} ms | {plainRate:F0} MiB/s | 1.00 |");
            foreach (var suite in new[] { AlgorithmSuite.CommitKey, AlgorithmSuite.CommitKeyEcdsaP384 })
            {
                var encrypted = Path.Combine(directory, $"{suite.Id:X4}.enc");
                var encrypt = Measure.Best(3, () => Encrypt(plaintext, encrypted, suite, provider));
                var decrypt = Measure.Best(3, () => Decrypt(encrypted, Path.Combine(directory, "out.bin"), provider, verifyFirst: false));
                var encryptRate = Measure.MiBPerSecond(Size, encrypt);
                var decryptRate = Measure.MiBPerSecond(Size, decrypt);
                report.WriteLine($"| encrypt {suite.IdHex} | {encrypt.TotalMilliseconds:F0} ms | {encryptRate:F0} MiB/s | {encryptRate / plainRate:F2} |");
                report.WriteLine($"| decrypt {suite.IdHex} | {decrypt.TotalMilliseconds:F0} ms | {decryptRate:F0} MiB/s | {decryptRate / plainRate:F2} |");
                if (suite.IsSigned)
                {
                    var strict = Measure.Best(1, () => Decrypt(encrypted, Path.Combine(directory, "out.bin"), provider, verifyFirst: true));
                    var strictRate = Measure.MiBPerSecond(Size, strict);
                    report.WriteLine($"| decrypt {suite.IdHex}, VerifyBeforeRelease (two passes) | {strict.TotalMilliseconds:F0} ms | {strictRate:F0} MiB/s | {strictRate / plainRate:F2} |");
                }

                File.Delete(encrypted);
            }

            var peak = double.Parse(Measure.RunChild("envelope-child", plaintext).Trim(), CultureInfo.InvariantCulture);
            var idle = double.Parse(Measure.RunChild("idle-child").Trim(), CultureInfo.InvariantCulture);
            report.WriteLine();
            report.WriteLine($"Peak RSS of a process that encrypts (0x0578) and decrypts the file: {peak:F1} MiB (an idle process of the same executable: {idle:F1} MiB; target under 64 MiB).");
            report.WriteLine("The signed suite also hashes every message byte with SHA-384 for the ECDSA footer; that hash runs on a second thread, beside AES-GCM. VerifyBeforeRelease reads the message twice: once to verify everything, once to decrypt.");
            report.WriteLine();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Child process entry: encrypt and decrypt one file and print the peak RSS in MiB.</summary>
    public static void Child(string plaintext)
    {
        var provider = new LocalKeyProvider();
        var encrypted = plaintext + ".child.enc";
        try
        {
            Encrypt(plaintext, encrypted, AlgorithmSuite.Default, provider);
            Decrypt(encrypted, plaintext + ".child.out", provider, verifyFirst: false);
            Console.WriteLine(FormattableString.Invariant($"{Measure.PeakRssMiB():F1}"));
        }
        finally
        {
            File.Delete(encrypted);
            File.Delete(plaintext + ".child.out");
        }
    }

    private static void Encrypt(string source, string destination, AlgorithmSuite suite, IDataKeyProvider provider)
    {
        using var input = Open(source);
        using var output = Create(destination);
        EnvelopeEncryptor.EncryptAsync(input, output, provider, new EnvelopeEncryptOptions { KeyId = "bench", Suite = suite }).GetAwaiter().GetResult();
    }

    private static void Decrypt(string source, string destination, IDataKeyDecryptor provider, bool verifyFirst)
    {
        using var input = Open(source);
        using var output = Create(destination);
        EnvelopeDecryptor.DecryptAsync(input, output, provider, new EnvelopeDecryptOptions { VerifyBeforeRelease = verifyFirst }).GetAwaiter().GetResult();
    }

    private static void PlainAesGcm(string source, string destination)
    {
        using var aes = new AesGcm(RandomNumberGenerator.GetBytes(32), 16);
        using var input = Open(source);
        using var output = Create(destination);
        var chunk = new byte[Chunk];
        var sealedChunk = new byte[Chunk + 16];
        var nonce = new byte[12];
        ulong counter = 0;
        int read;
        while ((read = input.ReadAtLeast(chunk, Chunk, throwOnEndOfStream: false)) > 0)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(nonce.AsSpan(4), ++counter);
            aes.Encrypt(nonce, chunk.AsSpan(0, read), sealedChunk.AsSpan(0, read), sealedChunk.AsSpan(read, 16));
            output.Write(sealedChunk, 0, read + 16);
        }
    }

    private static FileStream Open(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);

    private static FileStream Create(string path) => new(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);

    private static void WritePlaintext(string path)
    {
        using var output = Create(path);
        var block = new byte[1 << 20];
        new Random(11).NextBytes(block);
        for (long written = 0; written < Size; written += block.Length)
        {
            block[0]++;
            output.Write(block);
        }
    }

    /// <summary>A data key provider without KMS: the benchmark measures the format, not the network.</summary>
    private sealed class LocalKeyProvider : IDataKeyProvider
    {
        private readonly byte[] _dataKey = RandomNumberGenerator.GetBytes(32);

        public Task<GeneratedDataKey> GenerateDataKeyAsync(string keyId, int keyLength, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken) =>
            Task.FromResult(new GeneratedDataKey((byte[])_dataKey.Clone(), new EncryptedDataKey(KmsKeyring.ProviderId, Encoding.UTF8.GetBytes("local"), [1]), "local"));

        public Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken) =>
            Task.FromResult((byte[])_dataKey.Clone());
    }
}
