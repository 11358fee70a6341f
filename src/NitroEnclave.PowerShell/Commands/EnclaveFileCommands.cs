using System.Collections;
using System.Globalization;
using System.Management.Automation;
using NitroEnclave.Aws;
using NitroEnclave.Envelope;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// Shared by Protect- and Unprotect-EnclaveFile: files by -Path, -LiteralPath or pipeline, a -Destination file or
/// folder, -Force, one KMS client per invocation, progress for large files and many files, and per-file errors that
/// let the pipeline go on. Inputs are collected first, so the file count is known for the progress bar and a file
/// -Destination can be refused up front when several files come in.
/// </summary>
public abstract class EnclaveFileCommandBase : AwsCmdlet
{
    protected const string PathSet = "Path";
    protected const string LiteralPathSet = "LiteralPath";

    /// <summary>Files from this size on get their own progress bar (in bytes).</summary>
    private const long LargeFileBytes = 1 << 20;
    private const int FilesActivityId = 1;
    private const int BytesActivityId = 2;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);

    private readonly List<string> _sources = [];
    private readonly HashSet<string> _seenSources = new(PathComparer);
    private readonly HashSet<string> _writtenDestinations = new(PathComparer);
    private readonly List<AwsConnectionSettings> _sourceSettings = [];
    private readonly Dictionary<AwsConnectionSettings, KmsDataKeyProvider> _providers = [];

    /// <summary>The files, wildcards allowed; strings from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>The files, used exactly as typed; file objects from the pipeline bind here.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>The output file, or a folder (an existing one, or a path ending with a separator) to write into.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Replace existing destination files.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Seconds each KMS call may take, its retries included.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = (int)AwsClientFactory.DefaultTimeout.TotalSeconds;

    /// <summary>Grant tokens for GenerateDataKey or Decrypt, for a grant that is not yet eventually consistent.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("GrantTokens")]
    [ValidateCount(1, Protocol.ProtocolCodec.MaxGrantTokens)]
    [ValidateLength(1, Protocol.ProtocolCodec.MaxGrantTokenLength)]
    public string[]? GrantToken { get; set; }

    protected override int AwsTimeoutSeconds => TimeoutSec;

    private static StringComparer PathComparer => OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;

    /// <summary>"Encrypt" or "Decrypt", for ShouldProcess and progress.</summary>
    protected abstract string Operation { get; }

    protected override void BeginProcessing()
    {
        ResolveAwsSettings();
        ValidateOptions();
    }

    protected override void ProcessRecord()
    {
        // AWS parameters may come with each record (by property name): the file keeps the ones it came with.
        var settings = ResolveAwsSettings();
        var literal = ParameterSetName == LiteralPathSet;
        foreach (var item in literal ? LiteralPath : Path)
        {
            foreach (var file in FilePathResolver.Resolve(this, item, literal, WriteError))
            {
                if (_seenSources.Add(file))
                {
                    _sources.Add(file);
                    _sourceSettings.Add(settings);
                }
            }
        }
    }

    protected override void EndProcessing()
    {
        var (folder, file) = ResolveDestination();
        var many = _sources.Count > 1;
        if (file is not null && many)
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(EnclaveFileErrors.DestinationNotFolder, ErrorKind.InvalidArgument,
                $"{_sources.Count} files were given, so -Destination must be a folder; '{file}' is not one (end it with '{System.IO.Path.DirectorySeparatorChar}' to create it)."), file));
        }

        var activity = $"{Operation}ing {_sources.Count} files";
        try
        {
            for (var index = 0; index < _sources.Count; index++)
            {
                var source = _sources[index];
                if (many)
                {
                    WriteProgress(new ProgressRecord(FilesActivityId, activity, $"{index + 1} of {_sources.Count}: {System.IO.Path.GetFileName(source)}")
                    {
                        PercentComplete = index * 100 / _sources.Count,
                    });
                }

                ProcessFile(source, _sourceSettings[index], file ?? DefaultDestination(source, folder), folder, many);
            }
        }
        finally
        {
            if (many && !Stopping)
            {
                WriteProgress(new ProgressRecord(FilesActivityId, activity, "Done") { RecordType = ProgressRecordType.Completed });
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var provider in _providers.Values)
            {
                provider.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Checks the cmdlet's own parameters before any file is touched; stops the cmdlet when they are wrong.</summary>
    protected abstract void ValidateOptions();

    protected abstract string DefaultDestination(string source, string? folder);

    /// <summary>Encrypts or decrypts one file; reports the bytes of input read through <paramref name="bytesRead"/>.</summary>
    protected abstract Task<object> RunAsync(string source, string destination, KmsDataKeyProvider provider, Action<long> bytesRead);

    /// <summary>A hashtable of encryption context pairs as strings; null and reserved keys stop the cmdlet.</summary>
    protected Dictionary<string, string>? ContextFrom(Hashtable? table, string parameterName)
    {
        if (table is null)
        {
            return null;
        }

        var context = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in table)
        {
            var key = Convert.ToString(PSObject.AsPSObject(entry.Key).BaseObject, CultureInfo.InvariantCulture);
            var value = entry.Value is null ? null : Convert.ToString(PSObject.AsPSObject(entry.Value).BaseObject, CultureInfo.InvariantCulture);
            var problem = (key, value) switch
            {
                (null or "", _) => new NitroEnclaveException(EnvelopeErrors.InvalidOption, ErrorKind.InvalidArgument, $"-{parameterName} has an empty key."),
                (_, null) => new NitroEnclaveException(EnvelopeErrors.InvalidOption, ErrorKind.InvalidArgument, $"-{parameterName} has no value for '{key}'."),
                _ when key.StartsWith("aws-crypto-", StringComparison.Ordinal) => new NitroEnclaveException(EnvelopeErrors.ReservedContextKey, ErrorKind.InvalidArgument,
                    $"-{parameterName} keys starting with 'aws-crypto-' are reserved by the AWS Encryption SDK: '{key}'."),
                _ => null,
            };
            if (problem is not null)
            {
                ThrowTerminatingError(ToErrorRecord(problem, table));
            }

            context[key!] = value!;
        }

        return context;
    }

    /// <summary>A folder to write into, or a single destination file, or neither (each file's default).</summary>
    private (string? Folder, string? File) ResolveDestination()
    {
        if (Destination is null)
        {
            return (null, null);
        }

        var resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination);
        var namesFolder = Destination.EndsWith(System.IO.Path.DirectorySeparatorChar) || Destination.EndsWith(System.IO.Path.AltDirectorySeparatorChar);
        return namesFolder || Directory.Exists(resolved) ? (resolved, null) : (null, resolved);
    }

    private void ProcessFile(string source, AwsConnectionSettings settings, string destination, string? folder, bool many)
    {
        if (!_writtenDestinations.Add(System.IO.Path.GetFullPath(destination)))
        {
            WriteError(ToErrorRecord(new NitroEnclaveException(EnclaveFileErrors.DestinationConflict, ErrorKind.InvalidOperation,
                $"'{destination}' was already written by this command for another file; give the files different names or destinations."), source));
            return;
        }

        if (!ShouldProcess(source, $"{Operation} to '{destination}'"))
        {
            return;
        }

        try
        {
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            var length = new FileInfo(source).Length;
            var provider = Provider(settings);
            WriteObject(RunWithProgress(bytesRead => RunAsync(source, destination, provider, bytesRead), source, length, many));
        }
        catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ex is NitroEnclaveException or IOException or UnauthorizedAccessException)
        {
            WriteItemError(ex, source);
        }
    }

    /// <summary>One client per set of AWS settings for the whole invocation, made when the first file needs it (never under -WhatIf).</summary>
    private KmsDataKeyProvider Provider(AwsConnectionSettings settings)
    {
        if (_providers.TryGetValue(settings, out var existing))
        {
            return existing;
        }

        try
        {
            var provider = KmsDataKeyProvider.Create(settings, RequestTrace, GrantToken);
            _providers[settings] = provider;
            return provider;
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, settings.ToString()));
            throw;
        }
    }

    /// <summary>
    /// Runs the file operation on the thread pool while this (the pipeline) thread, the only one allowed to write
    /// progress, polls how far it got.
    /// </summary>
    private object RunWithProgress(Func<Action<long>, Task<object>> operation, string source, long length, bool many)
    {
        long done = 0;
        var task = Task.Run(() => operation(read => Interlocked.Exchange(ref done, read)), CancellationToken);
        var showBytes = length >= LargeFileBytes;
        var activity = $"{Operation}ing {System.IO.Path.GetFileName(source)}";
        ProgressRecord Bytes(long read) => new(BytesActivityId, activity, $"{read:N0} of {length:N0} bytes")
        {
            ParentActivityId = many ? FilesActivityId : -1,
            PercentComplete = (int)Math.Min(100, read * 100 / length),
        };

        try
        {
            if (showBytes)
            {
                WriteProgress(Bytes(0));
            }

            while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(ProgressInterval))
            {
                WriteRequestTrace();
                if (showBytes && !Stopping)
                {
                    WriteProgress(Bytes(Interlocked.Read(ref done)));
                }
            }

            return task.GetAwaiter().GetResult();
        }
        finally
        {
            // Leave only once the operation has cleaned up after itself (its temporary file), whatever stopped us.
            ((IAsyncResult)task).AsyncWaitHandle.WaitOne();
            WriteRequestTrace();
            if (showBytes && !Stopping)
            {
                var completed = Bytes(Interlocked.Read(ref done));
                completed.RecordType = ProgressRecordType.Completed;
                WriteProgress(completed);
            }
        }
    }
}

/// <summary>
/// <para type="synopsis">Encrypts files for the enclave with KMS envelope encryption, in the AWS Encryption SDK message format.</para>
/// </summary>
[Cmdlet(VerbsSecurity.Protect, "EnclaveFile", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType(typeof(ProtectedFile))]
public sealed class ProtectEnclaveFileCommand : EnclaveFileCommandBase
{
    private Dictionary<string, string>? _context;

    /// <summary>The KMS key: key id, key ARN, alias name or alias ARN.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(KmsAliasCompleter))]
    public string KeyId { get; set; } = string.Empty;

    [Parameter]
    public Hashtable? EncryptionContext { get; set; }

    /// <summary>Plaintext bytes per frame: at most what decryption accepts by default (16 MiB).</summary>
    [Parameter]
    [ValidateRange(1, 16 << 20)]
    public int FrameSize { get; set; } = EnvelopeEncryptOptions.DefaultFrameLength;

    [Parameter]
    public SwitchParameter NoSignature { get; set; }

    protected override string Operation => "Encrypt";

    protected override void ValidateOptions() => _context = ContextFrom(EncryptionContext, nameof(EncryptionContext));

    protected override string DefaultDestination(string source, string? folder) => EnclaveFile.DefaultProtectedPath(source, folder);

    protected override async Task<object> RunAsync(string source, string destination, KmsDataKeyProvider provider, Action<long> bytesRead)
    {
        var options = new EnvelopeEncryptOptions
        {
            KeyId = KeyId,
            EncryptionContext = _context,
            FrameLength = FrameSize,
            Suite = NoSignature ? AlgorithmSuite.CommitKey : AlgorithmSuite.CommitKeyEcdsaP384,
        };
        return await EnclaveFile.ProtectAsync(source, destination, provider, options, Force, bytesRead, CancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// <para type="synopsis">Decrypts files written by Protect-EnclaveFile (or any AWS Encryption SDK) when KMS allows the caller.</para>
/// </summary>
[Cmdlet(VerbsSecurity.Unprotect, "EnclaveFile", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType(typeof(UnprotectedFile))]
public sealed class UnprotectEnclaveFileCommand : EnclaveFileCommandBase
{
    private Dictionary<string, string>? _expected;

    /// <summary>Pairs the file's encryption context must contain; checked before KMS is asked for the data key.</summary>
    [Parameter]
    public Hashtable? ExpectedEncryptionContext { get; set; }

    protected override string Operation => "Decrypt";

    protected override void ValidateOptions() => _expected = ContextFrom(ExpectedEncryptionContext, nameof(ExpectedEncryptionContext));

    protected override string DefaultDestination(string source, string? folder) => EnclaveFile.DefaultUnprotectedPath(source, folder);

    protected override async Task<object> RunAsync(string source, string destination, KmsDataKeyProvider provider, Action<long> bytesRead) =>
        await EnclaveFile.UnprotectAsync(source, destination, provider, new EnvelopeDecryptOptions { ExpectedEncryptionContext = _expected }, Force, bytesRead, CancellationToken)
            .ConfigureAwait(false);
}
