using System.Diagnostics;
using System.Management.Automation;
using NitroEnclave.Aws;
using NitroEnclave.Envelope;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Sends encrypted images to the enclave server and returns the objects it detects.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "EnclaveDetection", DefaultParameterSetName = PathSet)]
[OutputType(typeof(EnclaveDetectionResult), typeof(ConfidentialDetectionResult))]
public sealed class InvokeEnclaveDetectionCommand : AwsCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    private readonly Queue<(string Path, Task<object> Detection)> _pending = new();
    private string? _resultFolder;
    private readonly HashSet<string> _resultPaths = new(StringComparer.Ordinal);
    private SemaphoreSlim? _throttle;
    private EnclaveFleet? _fleet;
    private AwsCallerCredentials? _credentials;
    private DetectionRequestOptions? _options;
    private int _done;
    private int _started;

    /// <summary>Encrypted files (wildcards allowed), as Protect-EnclaveFile wrote them.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>
    /// tcp://HOST:PORT, unix:/path or vsock://CID:PORT; several make a fleet: each file goes to the least busy, and one
    /// that fails is retried on another. Start-EnclaveSimulation sets its servers as a session default.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Endpoint { get; set; }

    /// <summary>The vsock CIDs of one or more enclaves, for example (Get-Enclave).EnclaveCID.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateRange(4, uint.MaxValue)]
    public uint[]? Cid { get; set; }

    /// <summary>Names of running enclaves (wildcards allowed: * is every running enclave).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(EnclaveNameCompleter))]
    public string[]? EnclaveName { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Port { get; set; } = EnclaveProtocol.DefaultPort;

    /// <summary>Seconds to wait for each file's answer.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = 120;

    /// <summary>Only objects at least this confident (0..1; the server's default is 0.5).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double? MinScore { get; set; }

    [Parameter]
    [ValidateRange(1, 10_000)]
    public int? MaxResults { get; set; }

    /// <summary>Only these labels, for example airplane, person; a label the model does not have is an error.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DetectionClassCompleter))]
    public string[]? Class { get; set; }

    /// <summary>
    /// A confidential result: the enclave encrypts it to this KMS key (key id, key ARN, alias name or alias ARN) and
    /// the parent gets only where the file went. Only those the key's policy lets Decrypt read it
    /// (Unprotect-EnclaveDetectionResult).
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(KmsAliasCompleter))]
    public string? ResultKeyId { get; set; }

    /// <summary>The folder for the encrypted results; by default each goes beside its input.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ResultPath { get; set; }

    /// <summary>With -ResultKeyId: the enclave also draws the objects onto the image and returns it encrypted (&lt;image name&gt;.annotated.jpg.enc).</summary>
    [Parameter]
    public SwitchParameter Annotate { get; set; }

    /// <summary>Files sent at once.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; } = 4;

    protected override void BeginProcessing()
    {
        ValidateConfidentialOptions();
        var endpoints = EnclaveTarget.ResolveAll(this, Endpoint, Cid, EnclaveName, Port, CancellationToken);
        // Files go over a few reused connections: a connect per file costs as much as a small image's transfer.
        _fleet = new EnclaveFleet([.. endpoints.Select(e => new EnclaveClient(e, TimeSpan.FromSeconds(TimeoutSec), reuseConnections: true) { Trace = RequestTrace })]);
        if (Class is { Length: > 0 })
        {
            ValidateClasses(Class);
        }

        // The enclave calls KMS itself, through its own route: only the credentials and region go with each file.
        var settings = ResolveAwsSettings(callsKms: false);
        try
        {
            _credentials = AwsClientFactory.ResolveCallerCredentials(settings);
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, "AWS credentials"));
        }

        if (VerboseRequested)
        {
            WriteVerbose($"AWS region: {_credentials!.Region} ({AwsConnectionDescription.RegionSource(settings, _credentials.Region)}), sent to the enclave server for its KMS call.");
        }

        _throttle = new SemaphoreSlim(ThrottleLimit);
        _options = new DetectionRequestOptions { MinScore = MinScore, MaxResults = MaxResults, Classes = Class ?? [] };
        WriteVerbose($"Sending files to the enclave server{(endpoints.Count > 1 ? "s" : string.Empty)} at {string.Join(", ", endpoints)}, {ThrottleLimit} at a time.");
    }

    /// <summary>-Annotate and -ResultPath belong to a confidential result; a key id KMS would refuse is refused here first.</summary>
    private void ValidateConfidentialOptions()
    {
        if (ResultKeyId is null)
        {
            if (Annotate || ResultPath is not null)
            {
                ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(ConfidentialResultErrors.OptionInvalid, ErrorKind.InvalidArgument,
                    "-Annotate and -ResultPath need -ResultKeyId: an annotated image or a result file is always encrypted to a result key."), null));
            }

            return;
        }

        if (!ProtocolCodec.IsKmsKeyId(ResultKeyId))
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(ConfidentialResultErrors.OptionInvalid, ErrorKind.InvalidArgument,
                $"-ResultKeyId '{ResultKeyId}' is not a KMS key id, key ARN, alias name (alias/...) or alias ARN."), ResultKeyId));
        }

        if (ResultPath is not null)
        {
            _resultFolder = SessionState.Path.GetUnresolvedProviderPathFromPSPath(ResultPath);
            if (!Directory.Exists(_resultFolder))
            {
                ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(ConfidentialResultErrors.OptionInvalid, ErrorKind.NotFound,
                    $"-ResultPath '{ResultPath}' is not an existing folder."), ResultPath));
            }
        }
    }

    /// <summary>A label the server's model lacks would only match nothing: refuse it before any file is sent.</summary>
    private void ValidateClasses(string[] classes)
    {
        ServerDescription description;
        try
        {
            description = EnclaveTarget.Wait(_fleet!.RunAsync(client => client.DescribeAsync(CancellationToken), CancellationToken), CancellationToken).Result;
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, string.Join(", ", _fleet!.Clients.Select(c => c.Endpoint))));
            throw;
        }
        finally
        {
            WriteRequestTrace();
        }

        // A server without a model refuses Detect itself, with its own error.
        var unknown = description.Labels.Count == 0 ? [] : DetectionClasses.FindUnknown(classes, description.Labels);
        if (unknown.Count > 0)
        {
            ThrowTerminatingError(ToErrorRecord(DetectionClasses.UnknownError(unknown, description.Labels, description.Model), unknown.Count == 1 ? unknown[0] : unknown));
        }
    }

    protected override void ProcessRecord()
    {
        var literal = ParameterSetName == LiteralPathSet;
        foreach (var item in literal ? LiteralPath : Path)
        {
            foreach (var file in FilePathResolver.Resolve(this, item, literal, WriteError))
            {
                _started++;
                _pending.Enqueue((file, DetectAsync(file)));
                WriteFinished(wait: false);
            }
        }
    }

    protected override void EndProcessing()
    {
        WriteFinished(wait: true);
        WriteRequestTrace();
        WriteProgress(new ProgressRecord(1, "Enclave detection", "Done") { RecordType = ProgressRecordType.Completed });
        WriteVerbose($"{_done} files over {_fleet!.Clients.Sum(c => c.ConnectionsOpened)} connections.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _fleet?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Writes results in input order: those already finished, or all of them when <paramref name="wait"/>.</summary>
    private void WriteFinished(bool wait)
    {
        while (_pending.Count > 0 && (wait || _pending.Peek().Detection.IsCompleted))
        {
            var (file, detection) = _pending.Dequeue();
            try
            {
                var result = EnclaveTarget.Wait(detection, CancellationToken);
                WriteRequestTrace();
                WriteObject(result);
            }
            catch (NitroEnclaveException ex)
            {
                WriteItemError(ex, file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                WriteItemError(ex, file);
            }

            _done++;
            WriteProgress(new ProgressRecord(1, "Enclave detection", $"{_done} of {_started} files") { PercentComplete = Math.Min(100, 100 * _done / Math.Max(1, _started)) });
        }
    }

    private async Task<object> DetectAsync(string file)
    {
        await _throttle!.WaitAsync(CancellationToken).ConfigureAwait(false);
        try
        {
            var info = new FileInfo(file);
            var maxFrameSize = _fleet!.Clients[0].MaxFrameSize;
            if (info.Length > maxFrameSize - 4096)
            {
                throw new EnclaveProtocolException(ProtocolErrorCodes.PayloadTooLarge, $"The file is {info.Length:N0} bytes; the enclave accepts at most {maxFrameSize - 4096:N0}.");
            }

            var bytes = await File.ReadAllBytesAsync(file, CancellationToken).ConfigureAwait(false);
            var watch = Stopwatch.StartNew();
            if (ResultKeyId is null)
            {
                var request = new DetectRequest { EncryptedFile = bytes, Credentials = _credentials!, Options = _options! };
                var (response, client) = await _fleet.RunAsync(c => c.DetectAsync(request, CancellationToken), CancellationToken).ConfigureAwait(false);
                return new EnclaveDetectionResult(file, response, client.Endpoint.ToString(), watch.Elapsed.TotalMilliseconds);
            }

            return await DetectConfidentialAsync(file, bytes, watch).ConfigureAwait(false);
        }
        finally
        {
            _throttle.Release();
        }
    }

    /// <summary>The enclave answers with ciphertexts only; each is written whole or not at all.</summary>
    private async Task<object> DetectConfidentialAsync(string file, byte[] bytes, Stopwatch watch)
    {
        var inputFileName = System.IO.Path.GetFileName(file);
        var imageName = ConfidentialResultFiles.ImageName(file);
        var folder = _resultFolder ?? System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file)) ?? ".";
        var resultPath = System.IO.Path.Combine(folder, imageName + ConfidentialResultFiles.ResultSuffix);
        lock (_resultPaths)
        {
            // Two inputs of the same name from different folders would write one result file in -ResultPath.
            if (!_resultPaths.Add(resultPath))
            {
                throw new NitroEnclaveException(EnclaveFileErrors.DestinationConflict, ErrorKind.InvalidOperation,
                    $"Another input of this command already writes its result to '{resultPath}'; send files of the same name to different -ResultPath folders.");
            }
        }

        var request = new DetectRequest
        {
            EncryptedFile = bytes,
            Credentials = _credentials!,
            Options = _options!,
            Result = new ConfidentialResultRequest { KeyId = ResultKeyId!, InputName = inputFileName, Annotate = Annotate },
        };
        var (response, client) = await _fleet!.RunAsync(c => c.DetectConfidentialAsync(request, CancellationToken), CancellationToken).ConfigureAwait(false);
        if (Annotate && response.EncryptedAnnotatedImage is null)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.BadRequest, "The enclave server answered without the annotated image it was asked for.");
        }

        await ConfidentialResultFiles.WriteAsync(resultPath, response.EncryptedResult, CancellationToken).ConfigureAwait(false);
        string? annotatedPath = null;
        if (response.EncryptedAnnotatedImage is { } image)
        {
            annotatedPath = System.IO.Path.Combine(folder, imageName + ConfidentialResultFiles.AnnotatedSuffix);
            await ConfidentialResultFiles.WriteAsync(annotatedPath, image, CancellationToken).ConfigureAwait(false);
        }

        return new ConfidentialDetectionResult(file, imageName, resultPath, annotatedPath, response.Model, response.Timings, client.Endpoint.ToString(), watch.Elapsed.TotalMilliseconds);
    }
}
