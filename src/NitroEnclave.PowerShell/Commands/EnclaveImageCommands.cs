using System.Management.Automation;
using System.Text;
using NitroEnclave.Eif;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// Shared input handling for the enclave image cmdlets: image files by -Path, -LiteralPath or pipeline, and the JSON
/// that nitro-cli build-enclave and describe-eif print, piped as text or saved in a file.
/// </summary>
public abstract class EnclaveImageCommandBase : NitroEnclaveCmdlet
{
    protected const string PathSet = "Path";
    protected const string LiteralPathSet = "LiteralPath";
    private const int MaxJsonFileSize = 16 << 20;

    private readonly JsonDocumentAccumulator _pipedJson = new();

    /// <summary>Image files (wildcards allowed), or lines of nitro-cli JSON piped as text.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>Treat a CRC mismatch as an error instead of a warning.</summary>
    [Parameter]
    public SwitchParameter Strict { get; set; }

    protected override void ProcessRecord()
    {
        var literal = ParameterSetName == LiteralPathSet;
        foreach (var item in literal ? LiteralPath : Path)
        {
            if (!literal && _pipedJson.Accepts(item))
            {
                if (_pipedJson.Add(item) is { } document)
                {
                    Emit(() => NitroCliJson.Parse(document, null), "nitro-cli JSON");
                }

                continue;
            }

            foreach (var file in FilePathResolver.Resolve(this, item, literal, WriteError))
            {
                Emit(() => ReadFile(file), file);
            }
        }
    }

    protected override void EndProcessing()
    {
        if (_pipedJson.IsOpen)
        {
            WriteError(new ErrorRecord(
                new NitroEnclaveException("NitroCliJsonIncomplete", ErrorKind.InvalidData, "The piped nitro-cli JSON ended before its closing brace."),
                "NitroCliJsonIncomplete",
                ErrorCategory.InvalidData,
                "nitro-cli JSON"));
        }
    }

    /// <summary>Writes the cmdlet's own view of one image.</summary>
    protected abstract void WriteImage(EnclaveImage image);

    private void Emit(Func<EnclaveImage> read, string target)
    {
        EnclaveImage image;
        try
        {
            image = read();
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ex is NitroEnclaveException or IOException or UnauthorizedAccessException)
        {
            WriteItemError(ex, target);
            return;
        }

        if (image.CheckCrc == false)
        {
            var message = $"The CRC-32 stored in '{target}' ({image.StoredCrc:x8}) does not match its contents ({image.ComputedCrc:x8}): the image is damaged or was modified.";
            if (Strict)
            {
                WriteError(ToErrorRecord(new NitroEnclaveException(EifErrors.CrcMismatch, ErrorKind.InvalidData, message), target));
                return;
            }

            WriteWarning(message);
        }

        WriteImage(image);
    }

    private EnclaveImage ReadFile(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        if (!StartsWithJsonObject(stream))
        {
            return EnclaveImageReader.Read(stream, file, CancellationToken);
        }

        if (stream.Length > MaxJsonFileSize)
        {
            throw new NitroEnclaveException(EifErrors.InvalidNitroCliJson, ErrorKind.InvalidData, $"The JSON file is larger than {MaxJsonFileSize} bytes.");
        }

        using var reader = new StreamReader(stream, Encoding.UTF8);
        return NitroCliJson.Parse(reader.ReadToEnd(), file);
    }

    /// <summary>True when the file's first non-blank byte (after a UTF-8 BOM) is '{'; rewinds the stream.</summary>
    private static bool StartsWithJsonObject(Stream stream)
    {
        Span<byte> head = stackalloc byte[64];
        var read = stream.Read(head);
        stream.Position = 0;
        var text = head[..read];
        if (text.StartsWith("\uFEFF"u8))
        {
            text = text[3..];
        }

        foreach (var b in text)
        {
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            return b == (byte)'{';
        }

        return false;
    }
}

/// <summary>
/// <para type="synopsis">Computes the PCR0, PCR1, PCR2 and PCR8 measurements of Enclave Image Files without nitro-cli.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "EnclavePcr", DefaultParameterSetName = PathSet)]
[OutputType(typeof(EnclaveMeasurements))]
public sealed class GetEnclavePcrCommand : EnclaveImageCommandBase
{
    private const string SimulationSet = "Simulation";

    /// <summary>The PCRs the session's enclave simulation reports (Start-EnclaveSimulation).</summary>
    [Parameter(Mandatory = true, ParameterSetName = SimulationSet)]
    public SwitchParameter Simulation { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != SimulationSet)
        {
            base.ProcessRecord();
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName != SimulationSet)
        {
            base.EndProcessing();
            return;
        }

        if (SimulationRegistry.Current(System.Management.Automation.Runspaces.Runspace.DefaultRunspace) is { } simulation)
        {
            WriteObject(simulation.Pcrs);
        }
        else
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException("SimulationNotRunning", ErrorKind.InvalidOperation, "No enclave simulation is running in this session: start one with Start-EnclaveSimulation."), null));
        }
    }

    protected override void WriteImage(EnclaveImage image) => WriteObject(image.Measurements);
}

/// <summary>
/// <para type="synopsis">Describes Enclave Image Files as nitro-cli describe-eif does, with their sections.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "EnclaveImage", DefaultParameterSetName = PathSet)]
[OutputType(typeof(EnclaveImage))]
public sealed class GetEnclaveImageCommand : EnclaveImageCommandBase
{
    protected override void WriteImage(EnclaveImage image) => WriteObject(image);
}
