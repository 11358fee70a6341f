using System.Collections.ObjectModel;

namespace NitroEnclave.Envelope;

/// <summary>The stable error ids of encrypting and decrypting files (the message format's own ids are in <see cref="EnvelopeErrors"/>).</summary>
public static class EnclaveFileErrors
{
    public const string DestinationExists = "DestinationExists";
    public const string DestinationIsSource = "DestinationIsSource";
    public const string DestinationIsFolder = "DestinationIsFolder";
    public const string DestinationNotFolder = "DestinationNotFolder";
    public const string DestinationConflict = "DestinationConflict";
    public const string UnknownFormat = "EncryptedFileFormatUnknown";
    public const string OutputLinkFailed = "OutputLinkFailed";

    internal static NitroEnclaveException Exists(string destination) =>
        new(DestinationExists, ErrorKind.InvalidOperation, $"The destination '{destination}' already exists; use -Force to replace it.");
}

/// <summary>What Protect-EnclaveFile wrote for one file.</summary>
public sealed class ProtectedFile
{
    internal ProtectedFile(string source, string destination, EnvelopeEncryptResult result)
    {
        Source = source;
        Destination = destination;
        KeyArn = result.KeyArn;
        Suite = result.Suite;
        PlaintextBytes = result.PlaintextLength;
        CiphertextBytes = result.CiphertextLength;
        EncryptionContext = EnclaveFile.UserContext(result.EncryptionContext);
    }

    public string Source { get; }

    public string Destination { get; }

    /// <summary>The ARN of the KMS key that encrypted the data key (KMS resolves ids and aliases to it).</summary>
    public string KeyArn { get; }

    public AlgorithmSuite Suite { get; }

    public long PlaintextBytes { get; }

    public long CiphertextBytes { get; }

    /// <summary>The caller's encryption context, sorted; the SDK's reserved aws-crypto-* entries are left out.</summary>
    public IReadOnlyDictionary<string, string> EncryptionContext { get; }

    /// <summary>The file written, as a FileInfo converts to its path (so the object works where a path is expected).</summary>
    public override string ToString() => Destination;
}

/// <summary>What Unprotect-EnclaveFile wrote for one file.</summary>
public sealed class UnprotectedFile
{
    internal UnprotectedFile(string source, string destination, EncryptedFileKind format, string? keyArn, AlgorithmSuite? suite,
        long plaintextBytes, long ciphertextBytes, IReadOnlyDictionary<string, string> context)
    {
        Source = source;
        Destination = destination;
        Format = format;
        KeyArn = keyArn;
        Suite = suite;
        PlaintextBytes = plaintextBytes;
        CiphertextBytes = ciphertextBytes;
        EncryptionContext = EnclaveFile.UserContext(context);
    }

    public string Source { get; }

    public string Destination { get; }

    public EncryptedFileKind Format { get; }

    /// <summary>The key named by the data key that was decrypted; null for legacy files, whose KMS blob names it internally.</summary>
    public string? KeyArn { get; }

    /// <summary>The message's algorithm suite; null for legacy (Fernet) files.</summary>
    public AlgorithmSuite? Suite { get; }

    public long PlaintextBytes { get; }

    public long CiphertextBytes { get; }

    /// <summary>The message's encryption context, sorted, without the SDK's reserved aws-crypto-* entries.</summary>
    public IReadOnlyDictionary<string, string> EncryptionContext { get; }

    /// <summary>The file written, as a FileInfo converts to its path.</summary>
    public override string ToString() => Destination;
}

/// <summary>
/// Encrypts and decrypts whole files. The output goes to a <see cref="PendingOutputFile"/> in the destination's folder
/// (an unnamed file on Linux) that is flushed to disk and given the destination's name only when everything succeeded,
/// so a failure (KMS denial, a tampered message, cancellation, a kill) never leaves a partial file, and an existing
/// file is replaced only when asked.
/// <para>
/// Decryption uses <see cref="EnvelopeDecryptor"/>'s default streaming mode (one pass), not VerifyBeforeRelease: the
/// plaintext it releases early only reaches the pending file, which is discarded unless the whole message verified.
/// Decrypted files are created readable and writable by their owner only (Unix).
/// </para>
/// </summary>
public static class EnclaveFile
{
    public const string ProtectedExtension = ".enc";
    public const string LegacyExtension = ".encrypted";
    public const string DecryptedExtension = ".decrypted";

    private const int BufferSize = 1 << 16;

    private static StringComparison PathComparison => OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

    /// <summary>Where a protected copy of <paramref name="source"/> goes by default: its name plus ".enc", in <paramref name="folder"/> or beside it.</summary>
    public static string DefaultProtectedPath(string source, string? folder = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        return Path.Combine(folder ?? Path.GetDirectoryName(Path.GetFullPath(source))!, Path.GetFileName(source) + ProtectedExtension);
    }

    /// <summary>
    /// Where the plaintext of <paramref name="source"/> goes by default: its name without ".enc" (or the legacy
    /// ".encrypted"), in <paramref name="folder"/> or beside it; a name without either extension gets ".decrypted"
    /// added instead, so it never names the source itself.
    /// </summary>
    public static string DefaultUnprotectedPath(string source, string? folder = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        var name = Path.GetFileName(source);
        var stripped = new[] { ProtectedExtension, LegacyExtension }
            .Where(extension => name.Length > extension.Length && name.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            .Select(extension => name[..^extension.Length])
            .FirstOrDefault();
        var directory = folder ?? Path.GetDirectoryName(Path.GetFullPath(source))!;
        var candidate = Path.Combine(directory, stripped ?? name);
        return SamePath(candidate, source) ? candidate + DecryptedExtension : candidate;
    }

    /// <summary>True when both paths name the same file (after making them absolute).</summary>
    public static bool SamePath(string first, string second) =>
        string.Equals(Path.GetFullPath(first), Path.GetFullPath(second), PathComparison);

    /// <summary>Encrypts <paramref name="source"/> into <paramref name="destination"/> in the AWS Encryption SDK message format.</summary>
    /// <param name="bytesRead">Called with the number of plaintext bytes read so far, from the encrypting thread.</param>
    public static async Task<ProtectedFile> ProtectAsync(
        string source,
        string destination,
        IDataKeyProvider provider,
        EnvelopeEncryptOptions options,
        bool overwrite = false,
        Action<long>? bytesRead = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(options);
        (source, destination) = CheckPaths(source, destination, overwrite);
        await using var input = OpenSource(source);
        var counted = new CountingReadStream(input, bytesRead);
        var result = await WriteAtomicallyAsync(destination, overwrite, ownerOnly: false,
            output => EnvelopeEncryptor.EncryptAsync(counted, output, provider, options, cancellationToken), cancellationToken).ConfigureAwait(false);
        return new ProtectedFile(source, destination, result);
    }

    /// <summary>
    /// Decrypts <paramref name="source"/>, an AWS Encryption SDK message or a reference-sample legacy file, into
    /// <paramref name="destination"/>. <see cref="EnvelopeDecryptOptions.ExpectedEncryptionContext"/> applies to both:
    /// a legacy file has no context, so any expected entry fails with EnvelopeContextMismatch.
    /// </summary>
    public static async Task<UnprotectedFile> UnprotectAsync(
        string source,
        string destination,
        IDataKeyDecryptor decryptor,
        EnvelopeDecryptOptions? options = null,
        bool overwrite = false,
        Action<long>? bytesRead = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(decryptor);
        options ??= new EnvelopeDecryptOptions();
        (source, destination) = CheckPaths(source, destination, overwrite);
        await using var input = OpenSource(source);
        var ciphertextBytes = input.Length;
        var format = await EncryptedFileFormat.DetectAsync(input, cancellationToken).ConfigureAwait(false);
        var counted = new CountingReadStream(input, bytesRead);
        var recorder = new DecryptedKeyRecorder(decryptor);
        switch (format)
        {
            case EncryptedFileKind.EncryptionSdkMessage:
                var message = await WriteAtomicallyAsync(destination, overwrite, ownerOnly: true,
                    output => EnvelopeDecryptor.DecryptAsync(counted, output, recorder, options, cancellationToken), cancellationToken).ConfigureAwait(false);
                return new UnprotectedFile(source, destination, format, recorder.KeyArn, message.Suite, message.PlaintextLength, ciphertextBytes, message.EncryptionContext);

            case EncryptedFileKind.LegacyFernet:
                if (options.ExpectedEncryptionContext is { Count: > 0 } expected)
                {
                    throw EnvelopeErrors.Security(EnvelopeErrors.ContextMismatch,
                        $"A legacy .encrypted file has no encryption context, so it cannot hold the expected {string.Join(", ", expected.Keys.Order(StringComparer.Ordinal))}.");
                }

                var legacy = await WriteAtomicallyAsync(destination, overwrite, ownerOnly: true,
                    output => LegacyEncryptedFile.DecryptAsync(counted, output, recorder, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
                return new UnprotectedFile(source, destination, format, null, null, legacy.PlaintextLength, ciphertextBytes, new Dictionary<string, string>());

            default:
                throw EnvelopeErrors.Invalid(EnclaveFileErrors.UnknownFormat,
                    $"'{source}' is neither an AWS Encryption SDK message nor a legacy .encrypted file (Length, KMS blob, Fernet token).");
        }
    }

    internal static ReadOnlyDictionary<string, string> UserContext(IReadOnlyDictionary<string, string> context) =>
        new(new SortedDictionary<string, string>(
            context.Where(pair => !pair.Key.StartsWith(EncryptionContextSerializer.ReservedPrefix, StringComparison.Ordinal)).ToDictionary(StringComparer.Ordinal),
            StringComparer.Ordinal));

    private static (string Source, string Destination) CheckPaths(string source, string destination, bool overwrite)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        source = Path.GetFullPath(source);
        destination = Path.GetFullPath(destination);
        if (SamePath(source, destination))
        {
            throw EnvelopeErrors.Argument(EnclaveFileErrors.DestinationIsSource, $"The destination '{destination}' is the source file itself.");
        }

        if (Directory.Exists(destination))
        {
            throw EnvelopeErrors.Argument(EnclaveFileErrors.DestinationIsFolder, $"The destination '{destination}' is a folder, not a file.");
        }

        if (!overwrite && File.Exists(destination))
        {
            throw EnclaveFileErrors.Exists(destination);
        }

        return (source, destination);
    }

    private static FileStream OpenSource(string source) =>
        new(source, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan);

    /// <summary>Writes through a <see cref="PendingOutputFile"/>, which gets the destination's name only on success.</summary>
    private static async Task<T> WriteAtomicallyAsync<T>(string destination, bool overwrite, bool ownerOnly, Func<Stream, Task<T>> write, CancellationToken cancellationToken)
    {
        using var output = PendingOutputFile.Create(destination, overwrite, ownerOnly);
        var result = await write(output.Stream).ConfigureAwait(false);
        await output.Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        output.Commit();
        return result;
    }

    /// <summary>Reports how far the input has been read, for progress bars.</summary>
    private sealed class CountingReadStream(Stream inner, Action<long>? report) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            _read += read;
            report?.Invoke(_read);
            return read;
        }
    }

    /// <summary>Remembers which KMS key the data key that worked belongs to.</summary>
    private sealed class DecryptedKeyRecorder(IDataKeyDecryptor inner) : IDataKeyDecryptor
    {
        public string? KeyArn { get; private set; }

        public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
        {
            var key = await inner.DecryptDataKeyAsync(encryptedDataKey, encryptionContext, cancellationToken).ConfigureAwait(false);
            KeyArn = encryptedDataKey.ProviderInfo.Length == 0 ? null : encryptedDataKey.ProviderInfoText;
            return key;
        }
    }
}
