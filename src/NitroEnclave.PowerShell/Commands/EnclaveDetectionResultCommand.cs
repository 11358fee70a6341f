using System.Management.Automation;
using NitroEnclave.Aws;
using NitroEnclave.Envelope;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Decrypts a confidential detection result (&lt;image name&gt;.result.enc) with the data owner's KMS access and returns the detection.</para>
/// </summary>
[Cmdlet(VerbsSecurity.Unprotect, "EnclaveDetectionResult", DefaultParameterSetName = PathSet)]
[OutputType(typeof(EnclaveDetectionResult))]
public sealed class UnprotectEnclaveDetectionResultCommand : AwsCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    private AwsConnectionSettings? _settings;
    private KmsDataKeyProvider? _provider;

    /// <summary>Result files (wildcards allowed), as Invoke-EnclaveDetection -ResultKeyId wrote them.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Result files used exactly as typed; the parent's result objects bind here by their ResultPath.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName", "LP", "ResultPath")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    protected override void BeginProcessing() => _settings = ResolveAwsSettings();

    protected override void ProcessRecord()
    {
        var literal = ParameterSetName == LiteralPathSet;
        foreach (var item in literal ? LiteralPath : Path)
        {
            foreach (var file in FilePathResolver.Resolve(this, item, literal, WriteError))
            {
                try
                {
                    WriteObject(EnclaveTarget.Wait(ConfidentialResultFiles.ReadAsync(file, Provider(), CancellationToken), CancellationToken));
                }
                catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
                {
                    throw new PipelineStoppedException();
                }
                catch (Exception ex) when (ex is NitroEnclaveException or IOException or UnauthorizedAccessException)
                {
                    WriteItemError(ex, file);
                }
                finally
                {
                    WriteRequestTrace();
                }
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _provider?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>One KMS client for the whole invocation, made when the first file needs it.</summary>
    private KmsDataKeyProvider Provider()
    {
        try
        {
            return _provider ??= KmsDataKeyProvider.Create(_settings!, RequestTrace);
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, _settings!.ToString()));
            throw;
        }
    }
}
