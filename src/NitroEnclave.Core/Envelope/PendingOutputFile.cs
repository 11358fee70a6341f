using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace NitroEnclave.Envelope;

/// <summary>
/// An output file that gets its name only once it is complete, so a failure, a cancellation or a killed process
/// never leaves a partial file (decrypted plaintext above all) on disk, and a good destination is never replaced by one.
/// <para>
/// On Linux (x64 and arm64) the data goes into an unnamed file in the destination's folder (open(2) with O_TMPFILE):
/// nothing of it is reachable by name, and the kernel frees it when the process ends, SIGKILL included.
/// <see cref="Commit"/> links it to its name. Where the folder's file system or the OS has no unnamed files, the data
/// goes into a hidden <c>.&lt;name&gt;.&lt;guid&gt;.nitroenclave-partial</c> beside the destination, removed on failure, on
/// <see cref="Dispose"/> and on SIGTERM, SIGINT and SIGQUIT; one left by a process killed outright is removed by the
/// next write to the same destination.
/// </para>
/// </summary>
public sealed partial class PendingOutputFile : IDisposable
{
    public const string PartialSuffix = ".nitroenclave-partial";

    private const int BufferSize = 1 << 16;

    private readonly string _destination;
    private readonly bool _overwrite;
    private readonly FileStream _stream;

    /// <summary>The hidden partial file, or null for an unnamed file.</summary>
    private readonly string? _partial;

    private bool _finished;

    private PendingOutputFile(string destination, bool overwrite, FileStream stream, string? partial)
    {
        _destination = destination;
        _overwrite = overwrite;
        _stream = stream;
        _partial = partial;
    }

    /// <summary>Where the bytes go until <see cref="Commit"/>.</summary>
    public Stream Stream => _stream;

    /// <summary>True when the data is in an unnamed file (Linux O_TMPFILE), false when in a hidden partial file.</summary>
    public bool IsUnnamed => _partial is null;

    /// <summary>
    /// Starts an output file for <paramref name="destination"/> (a full path), first removing partial files that
    /// earlier writes to the same destination left behind.
    /// </summary>
    /// <param name="ownerOnly">Create the file readable and writable by its owner only (Unix).</param>
    public static PendingOutputFile Create(string destination, bool overwrite, bool ownerOnly) =>
        Create(destination, overwrite, ownerOnly, allowUnnamed: true);

    internal static PendingOutputFile Create(string destination, bool overwrite, bool ownerOnly, bool allowUnnamed)
    {
        ArgumentException.ThrowIfNullOrEmpty(destination);
        destination = Path.GetFullPath(destination);
        var directory = Path.GetDirectoryName(destination)!;
        RemoveStalePartials(directory, Path.GetFileName(destination));
        if (allowUnnamed && UnnamedFile.TryCreate(directory, ownerOnly) is { } unnamed)
        {
            return new PendingOutputFile(destination, overwrite, unnamed, partial: null);
        }

        var partial = PartialPath(destination);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = BufferSize };
        if (ownerOnly && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        // Tracked before the file exists, so a signal arriving while it is being created still finds it.
        LivePartials.Track(partial);
        try
        {
            return new PendingOutputFile(destination, overwrite, new FileStream(partial, options), partial);
        }
        catch
        {
            LivePartials.Untrack(partial);
            throw;
        }
    }

    /// <summary>True when <paramref name="fileName"/> is a partial file that a write to <paramref name="destinationName"/> creates.</summary>
    public static bool IsPartialOf(string fileName, string destinationName)
    {
        var prefix = "." + destinationName + ".";
        if (!fileName.StartsWith(prefix, StringComparison.Ordinal) || !fileName.EndsWith(PartialSuffix, StringComparison.Ordinal))
        {
            return false;
        }

        var id = fileName.AsSpan(prefix.Length, Math.Max(0, fileName.Length - prefix.Length - PartialSuffix.Length));
        return id.Length == 32 && Guid.TryParseExact(id, "N", out _);
    }

    /// <summary>Syncs the data to disk and gives it the destination's name, replacing an existing file only when allowed.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _stream.Flush(flushToDisk: true);
        if (_partial is null)
        {
            CommitUnnamed();
        }
        else
        {
            CommitPartial(_partial);
        }

        _finished = true;
    }

    /// <summary>Discards the data unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        _stream.Dispose();
        if (_partial is not null)
        {
            File.Delete(_partial);
            LivePartials.Untrack(_partial);
        }
    }

    private static string PartialPath(string destination) =>
        Path.Combine(Path.GetDirectoryName(destination)!, $".{Path.GetFileName(destination)}.{Guid.NewGuid():N}{PartialSuffix}");

    /// <summary>
    /// Removes partial files of the same destination that no live writer holds: each writer keeps an exclusive lock
    /// on its own (flock on Unix, sharing on Windows), so only those of killed processes can be opened here.
    /// </summary>
    private static void RemoveStalePartials(string directory, string destinationName)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var path in Directory.EnumerateFiles(directory, "*" + PartialSuffix, new EnumerationOptions { AttributesToSkip = 0 }))
        {
            if (!IsPartialOf(Path.GetFileName(path), destinationName))
            {
                continue;
            }

            try
            {
                // Deleted on close while still locked, so no writer can take it over in between.
                new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose).Dispose();
            }
            catch (IOException)
            {
                // Held by a live writer, or gone already.
            }
            catch (UnauthorizedAccessException)
            {
                // Another user's file: not ours to remove.
            }
        }
    }

    private void CommitUnnamed()
    {
        if (!_overwrite)
        {
            // linkat never replaces an existing name: the refusal to overwrite is atomic.
            UnnamedFile.Link(_stream.SafeFileHandle, _destination, _destination);
            _stream.Dispose();
            return;
        }

        // rename(2) replaces atomically but needs a name to move: a hidden one, tracked for the instant it exists.
        var hidden = PartialPath(_destination);
        LivePartials.Track(hidden);
        try
        {
            UnnamedFile.Link(_stream.SafeFileHandle, hidden, _destination);
            try
            {
                File.Move(hidden, _destination, overwrite: true);
            }
            catch
            {
                File.Delete(hidden);
                throw;
            }
        }
        finally
        {
            LivePartials.Untrack(hidden);
            _stream.Dispose();
        }
    }

    private void CommitPartial(string partial)
    {
        _stream.Dispose();
        try
        {
            File.Move(partial, _destination, _overwrite);
        }
        catch (IOException) when (!_overwrite && File.Exists(_destination))
        {
            File.Delete(partial);
            throw EnclaveFileErrors.Exists(_destination);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
        finally
        {
            LivePartials.Untrack(partial);
        }
    }

    /// <summary>The partial files of this process, removed when a termination signal arrives.</summary>
    private static class LivePartials
    {
        private static readonly HashSet<string> Paths = new(StringComparer.Ordinal);
        private static PosixSignalRegistration[]? _registrations;

        public static void Track(string path)
        {
            lock (Paths)
            {
                _registrations ??= Register();
                Paths.Add(path);
            }
        }

        public static void Untrack(string path)
        {
            lock (Paths)
            {
                Paths.Remove(path);
            }
        }

        private static PosixSignalRegistration[] Register()
        {
            try
            {
                // Kept for the life of the process; the handler does not cancel the signal, so it still ends the process.
                return [.. new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT }.Select(signal => PosixSignalRegistration.Create(signal, RemoveAll))];
            }
            catch (PlatformNotSupportedException)
            {
                return [];
            }
        }

        private static void RemoveAll(PosixSignalContext context)
        {
            lock (Paths)
            {
                foreach (var path in Paths)
                {
                    try
                    {
                        File.Delete(path);
                    }
                    catch (IOException)
                    {
                        // Still open on Windows; its writer deletes it when the signal stops it.
                    }
                    catch (UnauthorizedAccessException)
                    {
                    }
                }

                Paths.Clear();
            }
        }
    }

    /// <summary>Linux unnamed files: open(2) with O_TMPFILE, then linkat(2) through /proc/self/fd to give one a name.</summary>
    private static partial class UnnamedFile
    {
        private const int WriteOnly = 0x1;
        private const int CloseOnExec = 0x80000;
        private const int AtCurrentDirectory = -100;
        private const int AtSymlinkFollow = 0x400;
        private const int LockExclusive = 2;
        private const int LockNonBlocking = 4;
        private const int FileExists = 17;

        /// <summary>A writable unnamed file in <paramref name="directory"/>, or null where O_TMPFILE is not available.</summary>
        public static FileStream? TryCreate(string directory, bool ownerOnly)
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }

            // O_TMPFILE is __O_TMPFILE | O_DIRECTORY, and O_DIRECTORY differs between architectures.
            int temporaryFile;
            switch (RuntimeInformation.ProcessArchitecture)
            {
                case Architecture.X64:
                    temporaryFile = 0x410000;
                    break;
                case Architecture.Arm64:
                    temporaryFile = 0x404000;
                    break;
                default:
                    return null;
            }

            var descriptor = Open(directory, temporaryFile | WriteOnly | CloseOnExec, ownerOnly ? 0b110_000_000u : 0b110_110_110u);
            if (descriptor < 0)
            {
                // EOPNOTSUPP (the file system has none), EISDIR (an old kernel), or a folder the fallback reports better.
                return null;
            }

            var handle = new SafeFileHandle(descriptor, ownsHandle: true);
            // Linking needs /proc; the lock keeps RemoveStalePartials off the hidden name the file briefly gets.
            if (!File.Exists(ProcPath(descriptor)) || Flock(descriptor, LockExclusive | LockNonBlocking) != 0)
            {
                handle.Dispose();
                return null;
            }

            return new FileStream(handle, FileAccess.Write, BufferSize);
        }

        public static void Link(SafeFileHandle handle, string name, string destination)
        {
            if (LinkAt(AtCurrentDirectory, ProcPath((int)handle.DangerousGetHandle()), AtCurrentDirectory, name, AtSymlinkFollow) == 0)
            {
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            throw errno == FileExists
                ? EnclaveFileErrors.Exists(destination)
                : new NitroEnclaveException(EnclaveFileErrors.OutputLinkFailed, ErrorKind.ResourceUnavailable,
                    $"The finished output could not be linked to '{name}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        private static string ProcPath(int descriptor) => "/proc/self/fd/" + descriptor.ToString(CultureInfo.InvariantCulture);

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int Open(string path, int flags, uint mode);

        [LibraryImport("libc", EntryPoint = "linkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int LinkAt(int oldDirectory, string oldPath, int newDirectory, string newPath, int flags);

        [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
        private static partial int Flock(int descriptor, int operation);
    }
}
