using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace NitroEnclave.Tests;

/// <summary>
/// Writes small Enclave Image Files for tests, following the layout nitro-cli writes (header, then each section's
/// 12-byte header and data), and computes the expected PCRs the plain way: SHA-384 over the concatenated data.
/// Knobs break the image in the ways the reader must detect.
/// </summary>
public sealed class TestEifBuilder
{
    private readonly List<(ushort Type, byte[] Data)> _sections = [];

    public ushort Version { get; set; } = 4;

    public ushort Flags { get; set; }

    /// <summary>When set, the stored CRC is this value instead of the correct one.</summary>
    public uint? CrcOverride { get; set; }

    public TestEifBuilder Section(ushort type, byte[] data)
    {
        _sections.Add((type, data));
        return this;
    }

    /// <summary>A typical unsigned image: kernel, cmdline, metadata, bootstrap ramdisk, application ramdisk.</summary>
    public static TestEifBuilder Typical(int applicationSize = 4096, int seed = 1)
    {
        var random = new Random(seed);
        byte[] Bytes(int n)
        {
            var b = new byte[n];
            random.NextBytes(b);
            return b;
        }

        return new TestEifBuilder()
            .Section(1, Bytes(3000))
            .Section(2, "reboot=k panic=30 pci=off nomodules console=ttyS0"u8.ToArray())
            .Section(5, """{"ImageName":"hello","ImageVersion":"1.0","BuildMetadata":{"BuildTime":"2026-11-01T10:00:00Z","BuildTool":"nitro-cli","BuildToolVersion":"1.4.2","OperatingSystem":"Linux","KernelVersion":"6.1"},"DockerInfo":{"Id":"sha256:abc"},"CustomMetadata":null}"""u8.ToArray())
            .Section(3, Bytes(1500))
            .Section(3, Bytes(applicationSize));
    }

    public IReadOnlyList<(ushort Type, byte[] Data)> Sections => _sections;

    public byte[] Build()
    {
        var header = new byte[548];
        BinaryPrimitives.WriteUInt32BigEndian(header, 0x2E656966);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), Flags);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), 1UL << 30);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), 2);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(26), (ushort)_sections.Count);
        long offset = 548;
        for (var i = 0; i < _sections.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(28 + (8 * i)), (ulong)offset);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(284 + (8 * i)), (ulong)_sections[i].Data.Length);
            offset += 12 + _sections[i].Data.Length;
        }

        var output = new MemoryStream();
        output.Write(header);
        var crc = new Crc32();
        crc.Append(header.AsSpan(0, 544));
        foreach (var (type, data) in _sections)
        {
            var sectionHeader = new byte[12];
            BinaryPrimitives.WriteUInt16BigEndian(sectionHeader, type);
            BinaryPrimitives.WriteUInt64BigEndian(sectionHeader.AsSpan(4), (ulong)data.Length);
            output.Write(sectionHeader);
            output.Write(data);
            crc.Append(sectionHeader);
            crc.Append(data);
        }

        var bytes = output.ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(544), CrcOverride ?? crc.GetCurrentHashAsUInt32());
        return bytes;
    }

    public string Write(string path)
    {
        File.WriteAllBytes(path, Build());
        return path;
    }

    /// <summary>PCR0: kernel, cmdline and every ramdisk in file order.</summary>
    public string ExpectedPcr0() => Expected(_sections.Where(s => s.Type is 1 or 2 or 3));

    /// <summary>PCR1: kernel, cmdline and the first ramdisk.</summary>
    public string ExpectedPcr1()
    {
        var firstRamdisk = _sections.FindIndex(s => s.Type == 3);
        return Expected(_sections.Where((s, i) => s.Type is 1 or 2 || i == firstRamdisk));
    }

    /// <summary>PCR2: every ramdisk after the first.</summary>
    public string ExpectedPcr2()
    {
        var firstRamdisk = _sections.FindIndex(s => s.Type == 3);
        return Expected(_sections.Where((s, i) => s.Type == 3 && i != firstRamdisk));
    }

    /// <summary>SHA384(48 zero bytes || SHA384(concatenation)), written out without the library's helpers.</summary>
    public static string Expected(IEnumerable<(ushort Type, byte[] Data)> sections)
    {
        var all = sections.SelectMany(s => s.Data).ToArray();
        var inner = SHA384.HashData(all);
        var outer = SHA384.HashData(new byte[48].Concat(inner).ToArray());
        return Convert.ToHexString(outer).ToLowerInvariant();
    }
}
