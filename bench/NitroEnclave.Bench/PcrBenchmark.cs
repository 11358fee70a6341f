using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using NitroEnclave.Eif;

namespace NitroEnclave.Bench;

/// <summary>
/// PCR throughput of Get-EnclavePcr's reader on a 1 GiB image against plain SHA-384 over the same bytes, and the peak
/// memory of a process that measures that image. Issue target: at least 0.9 of the plain hash rate, under 64 MiB.
/// </summary>
internal static class PcrBenchmark
{
    private const long ApplicationSize = (1L << 30) - (24L << 20);

    public static void Run(TextWriter report)
    {
        var path = Path.Combine(Path.GetTempPath(), "nitroenclave-bench-1gib.eif");
        try
        {
            var size = WriteImage(path);
            var plain = Measure.Best(3, () => PlainSha384(path));
            var reader = Measure.Best(3, () => EnclaveImageReader.Read(path));
            var childOutput = Measure.RunChild("pcr-child", path).Trim().Split(' ');
            var childPeak = double.Parse(childOutput[0], CultureInfo.InvariantCulture);
            var baselinePeak = double.Parse(Measure.RunChild("idle-child").Trim(), CultureInfo.InvariantCulture);

            var plainRate = Measure.MiBPerSecond(size, plain);
            var readerRate = Measure.MiBPerSecond(size, reader);
            report.WriteLine("## PCR measurement (Get-EnclavePcr)");
            report.WriteLine();
            report.WriteLine($"Image: {size / 1048576.0:F0} MiB EIF (kernel 8 MiB, bootstrap ramdisk 16 MiB, application ramdisk {ApplicationSize / 1048576.0:F0} MiB), in the page cache. Best of 3 runs after a warm-up.");
            report.WriteLine();
            report.WriteLine("| what | time | throughput | ratio to plain SHA-384 |");
            report.WriteLine("|---|---:|---:|---:|");
            report.WriteLine($"| plain SHA-384 over the file (one pass, 4 MiB reads) | {plain.TotalMilliseconds:F0} ms | {plainRate:F0} MiB/s | 1.00 |");
            report.WriteLine($"| EnclaveImageReader: PCR0, PCR1, PCR2, CRC-32, validation | {reader.TotalMilliseconds:F0} ms | {readerRate:F0} MiB/s | {readerRate / plainRate:F2} |");
            report.WriteLine();
            report.WriteLine($"Peak RSS of a process that measures the image: {childPeak:F1} MiB (an idle process of the same executable: {baselinePeak:F1} MiB; target under 64 MiB).");
            report.WriteLine("The image's ramdisks are hashed twice (PCR0 covers all of them, PCR1/PCR2 part of them); the reader runs the two chains on two threads, so the comparison figure is one SHA-384 pass.");
            report.WriteLine();
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Child process entry: measure one image and print the peak RSS in MiB.</summary>
    public static void Child(string path)
    {
        var image = EnclaveImageReader.Read(path);
        Console.WriteLine(FormattableString.Invariant($"{Measure.PeakRssMiB():F1} {image.Measurements.PCR0}"));
    }

    private static void PlainSha384(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        var buffer = new byte[4 << 20];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
        }

        hash.GetHashAndReset();
    }

    /// <summary>Writes a valid EIF with a large application ramdisk, streaming, and returns its size.</summary>
    private static long WriteImage(string path)
    {
        long[] sizes = [8L << 20, 64, 16L << 20, ApplicationSize];
        ushort[] types = [1, 2, 3, 3];
        var header = new byte[548];
        BinaryPrimitives.WriteUInt32BigEndian(header, 0x2E656966);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), 4);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(26), (ushort)sizes.Length);
        long offset = 548;
        for (var i = 0; i < sizes.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(28 + (8 * i)), (ulong)offset);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(284 + (8 * i)), (ulong)sizes[i]);
            offset += 12 + sizes[i];
        }

        var crc = new Crc32();
        crc.Append(header.AsSpan(0, 544));
        using (var output = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            output.Write(header);
            var block = new byte[1 << 20];
            new Random(7).NextBytes(block);
            for (var i = 0; i < sizes.Length; i++)
            {
                var sectionHeader = new byte[12];
                BinaryPrimitives.WriteUInt16BigEndian(sectionHeader, types[i]);
                BinaryPrimitives.WriteUInt64BigEndian(sectionHeader.AsSpan(4), (ulong)sizes[i]);
                output.Write(sectionHeader);
                crc.Append(sectionHeader);
                for (var left = sizes[i]; left > 0; left -= block.Length)
                {
                    block[0]++; // no two blocks alike
                    var part = block.AsSpan(0, (int)Math.Min(block.Length, left));
                    output.Write(part);
                    crc.Append(part);
                }
            }

            output.Position = 544;
            var stored = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(stored, crc.GetCurrentHashAsUInt32());
            output.Write(stored);
        }

        return offset;
    }
}
