using System.Text;

namespace NitroEnclave.Eif;

/// <summary>
/// An uncompressed cpio archive in the "newc" format (the Linux initramfs format, as linuxkit's kernel+initrd-nogz
/// output that nitro-cli uses), written reproducibly: entries in ordinal path order, owner 0:0, modification time 0,
/// inode numbers by position, so the bytes depend only on the paths, modes and contents.
/// </summary>
public sealed class CpioArchive
{
    private const int HeaderLength = 110;
    private const string Trailer = "TRAILER!!!";
    private const int DirectoryType = 0x4000; // S_IFDIR
    private const int RegularType = 0x8000; // S_IFREG
    private readonly SortedDictionary<string, CpioEntry> _entries = new(StringComparer.Ordinal);

    /// <summary>The entries in the order they are written.</summary>
    public IReadOnlyCollection<CpioEntry> Entries => _entries.Values;

    /// <summary>Adds a directory; its parent directories must be added too (the kernel does not create them).</summary>
    public CpioArchive AddDirectory(string path, int mode = 0x1ED /* 0755 */) => Add(new CpioEntry(CheckPath(path), DirectoryType | mode, null));

    /// <summary>Adds a regular file whose content is read when the archive is written.</summary>
    public CpioArchive AddFile(string path, EifBlob content, int mode) => Add(new CpioEntry(CheckPath(path), RegularType | mode, content));

    public bool Contains(string path) => _entries.ContainsKey(path);

    /// <summary>The archive's size in bytes, computed without reading any content.</summary>
    public long Length => _entries.Values.Sum(e => EntryLength(e.Path, e.Content?.Length ?? 0)) + EntryLength(Trailer, 0);

    /// <summary>The archive as a blob, for an EIF ramdisk section.</summary>
    public EifBlob ToBlob() => new(Length, WriteTo);

    public void WriteTo(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var inode = 1;
        foreach (var entry in _entries.Values)
        {
            var length = entry.Content?.Length ?? 0;
            WriteHeader(output, entry.Path, inode++, entry.Mode, entry.Content is null ? 2 : 1, length);
            if (entry.Content is { } content)
            {
                var counter = new CountingStream(output);
                content.WriteTo(counter);
                if (counter.Count != length)
                {
                    throw new NitroEnclaveException(EifErrors.ContentChanged, ErrorKind.InvalidData, $"'{entry.Path}' changed while the image was written ({counter.Count} bytes instead of {length}).");
                }

                Pad(output, length);
            }
        }

        WriteHeader(output, Trailer, 0, 0, 1, 0);
    }

    private CpioArchive Add(CpioEntry entry)
    {
        if (!_entries.TryAdd(entry.Path, entry))
        {
            throw new ArgumentException($"The archive already has an entry '{entry.Path}'.", nameof(entry));
        }

        return this;
    }

    private static string CheckPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.StartsWith('/') || path.EndsWith('/') || path.Split('/').Any(p => p is "" or "." or ".."))
        {
            throw new ArgumentException($"'{path}' is not a relative path without '.', '..' or empty parts.", nameof(path));
        }

        return path;
    }

    private static long EntryLength(string path, long dataLength) =>
        Align4(HeaderLength + Encoding.UTF8.GetByteCount(path) + 1) + Align4(dataLength);

    private static long Align4(long n) => (n + 3) & ~3L;

    private static void WriteHeader(Stream output, string path, int inode, int mode, int links, long length)
    {
        if (length > uint.MaxValue)
        {
            throw new NitroEnclaveException(EifErrors.ContentTooLarge, ErrorKind.InvalidArgument, $"'{path}' is {length} bytes; a cpio entry holds at most 4 GiB.");
        }

        var name = Encoding.UTF8.GetBytes(path);
        var header = new StringBuilder("070701", HeaderLength);
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
        foreach (var field in new[] { (uint)inode, (uint)mode, 0u, 0u, (uint)links, 0u, (uint)length, 0u, 0u, 0u, 0u, (uint)name.Length + 1, 0u })
        {
            header.Append(field.ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
        }

        output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        output.Write(name);
        output.WriteByte(0);
        Pad(output, HeaderLength + name.Length + 1);
    }

    private static void Pad(Stream output, long written)
    {
        Span<byte> zeros = stackalloc byte[3];
        zeros.Clear();
        output.Write(zeros[..(int)(Align4(written) - written)]);
    }
}

/// <summary>One archive entry: a directory (no content) or a regular file; Mode holds the type and permission bits.</summary>
public sealed record CpioEntry(string Path, int Mode, EifBlob? Content)
{
    public bool IsDirectory => Content is null;

    /// <summary>The permission bits alone (e.g. 0755).</summary>
    public int Permissions => Mode & 0xFFF;
}

/// <summary>Content of known length written on demand: a file, bytes, or an archive built from them.</summary>
public sealed class EifBlob
{
    private readonly Action<Stream> _write;

    public EifBlob(long length, Action<Stream> write)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentNullException.ThrowIfNull(write);
        Length = length;
        _write = write;
    }

    public long Length { get; }

    public static EifBlob FromBytes(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new EifBlob(bytes.Length, s => s.Write(bytes));
    }

    /// <summary>A file, its length taken now and its content read each time the blob is written.</summary>
    public static EifBlob FromFile(string path)
    {
        var length = new FileInfo(path).Length;
        return new EifBlob(length, s =>
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            file.CopyTo(s, 1 << 20);
        });
    }

    public void WriteTo(Stream output) => _write(output);
}

internal delegate void BytesObserver(ReadOnlySpan<byte> bytes);

/// <summary>A write-only pass-through that counts the bytes and shows them to an observer (hashes, CRC).</summary>
internal sealed class CountingStream(Stream inner, BytesObserver? observe = null) : Stream
{
    public long Count { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => Count; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        observe?.Invoke(buffer);
        inner.Write(buffer);
        Count += buffer.Length;
    }

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
