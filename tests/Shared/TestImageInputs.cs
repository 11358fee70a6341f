using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace NitroEnclave.Tests;

/// <summary>
/// Synthetic inputs for reproducible image builds (the real blobs are not on test machines), and an independent
/// reading of what comes out: EIF sections walked from the raw bytes, cpio newc entries parsed field by field, PCRs as
/// plain SHA-384 over the concatenated sections. None of it calls the production writer or reader.
/// </summary>
public sealed class TestImageInputs : IDisposable
{
    public const string Cmdline = "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on";

    public TestImageInputs()
    {
        Root = Directory.CreateTempSubdirectory("nitroenclave-image-").FullName;
        BlobPath = Directory.CreateDirectory(Path.Combine(Root, "blobs")).FullName;
        ServerPath = Directory.CreateDirectory(Path.Combine(Root, "server")).FullName;
        File.WriteAllBytes(Path.Combine(BlobPath, "bzImage"), Bytes(5000, 1));
        File.WriteAllText(Path.Combine(BlobPath, "bzImage.config"), "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 6.1.102 Kernel Configuration\n#\nCONFIG_X=y\n");
        File.WriteAllText(Path.Combine(BlobPath, "cmdline"), Cmdline + "\n");
        File.WriteAllBytes(Path.Combine(BlobPath, "init"), Bytes(3001, 2));
        File.WriteAllBytes(Path.Combine(BlobPath, "nsm.ko"), Bytes(1002, 3));
        File.WriteAllBytes(Path.Combine(ServerPath, "EnclaveHost"), Bytes(4003, 4));
        File.WriteAllBytes(Path.Combine(ServerPath, "libonnxruntime.so"), Bytes(2004, 5));
        Directory.CreateDirectory(Path.Combine(ServerPath, "models"));
        File.WriteAllBytes(Path.Combine(ServerPath, "models", "detector.onnx"), Bytes(6005, 6));
        File.WriteAllText(Path.Combine(ServerPath, "models", "detector.labels.txt"), "person\ncar\n");
    }

    public string Root { get; }

    public string BlobPath { get; }

    public string ServerPath { get; }

    public string Blob(string name) => Path.Combine(BlobPath, name);

    public string Output(string name) => Path.Combine(Root, name);

    public static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Flips one byte of a file.</summary>
    public static void Flip(string path, int offset = 10)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    /// <summary>The sections of an EIF as (type, data), walked from the 548-byte header and each 12-byte section header.</summary>
    public static List<(ushort Type, byte[] Data)> Sections(byte[] eif)
    {
        var count = BinaryPrimitives.ReadUInt16BigEndian(eif.AsSpan(26));
        var sections = new List<(ushort, byte[])>();
        var position = 548;
        for (var i = 0; i < count; i++)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(eif.AsSpan(position));
            var size = (int)BinaryPrimitives.ReadUInt64BigEndian(eif.AsSpan(position + 4));
            sections.Add((type, eif.AsSpan(position + 12, size).ToArray()));
            position += 12 + size;
        }

        return sections;
    }

    /// <summary>SHA384(48 zero bytes || SHA384(concatenation)).</summary>
    public static string Extend(params byte[][] parts)
    {
        var inner = SHA384.HashData(parts.SelectMany(p => p).ToArray());
        return Convert.ToHexString(SHA384.HashData(new byte[48].Concat(inner).ToArray())).ToLowerInvariant();
    }

    /// <summary>One newc entry as parsed: the header fields by name, the name and the data.</summary>
    public sealed record CpioRecord(string Name, uint Mode, uint Uid, uint Gid, uint Links, uint Mtime, byte[] Data);

    /// <summary>Parses a newc archive up to and including its TRAILER!!! entry; fails on anything else.</summary>
    public static List<CpioRecord> ParseCpio(byte[] archive)
    {
        var records = new List<CpioRecord>();
        var position = 0;
        while (true)
        {
            var header = Encoding.ASCII.GetString(archive, position, 110);
            if (!header.StartsWith("070701", StringComparison.Ordinal))
            {
                throw new InvalidDataException($"no newc magic at {position}");
            }

            uint Field(int i) => Convert.ToUInt32(header.Substring(6 + (8 * i), 8), 16);
            var nameSize = (int)Field(11);
            var fileSize = (int)Field(6);
            var name = Encoding.UTF8.GetString(archive, position + 110, nameSize - 1);
            if (archive[position + 110 + nameSize - 1] != 0)
            {
                throw new InvalidDataException("name not NUL-terminated");
            }

            var dataStart = Align4(position + 110 + nameSize);
            records.Add(new CpioRecord(name, Field(1), Field(2), Field(3), Field(4), Field(5), archive.AsSpan(dataStart, fileSize).ToArray()));
            position = Align4(dataStart + fileSize);
            if (name == "TRAILER!!!")
            {
                if (position != archive.Length)
                {
                    throw new InvalidDataException("bytes after the trailer");
                }

                return records;
            }
        }
    }

    private static int Align4(int n) => (n + 3) & ~3;
}
