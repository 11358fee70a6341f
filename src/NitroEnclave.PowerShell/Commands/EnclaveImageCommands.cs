using System.Management.Automation;
using System.Text;
using NitroEnclave.Eif;
using NitroEnclave.Enclave;

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

/// <summary>
/// <para type="synopsis">Tells whether an enclave image has the measurements expected of it (what the operator deployed), measurement by measurement.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "EnclaveImage")]
[OutputType(typeof(EnclaveImageTestResult))]
public sealed class TestEnclaveImageCommand : NitroEnclaveCmdlet
{
    private static readonly int[] Registers = [0, 1, 2, 8];

    /// <summary>The image to check, e.g. the one the data owner rebuilt.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>
    /// The expected PCRs: the object Get-EnclavePcr or New-EnclaveImage returns, an image from Get-EnclaveImage,
    /// nitro-cli's JSON (ConvertFrom-Json), or a hashtable such as @{ PCR0 = '...'; PCR2 = '...' }.
    /// </summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PSObject Expected { get; set; } = null!;

    protected override void ProcessRecord()
    {
        var file = FilePathResolver.Resolve(this, Path, literal: false, WriteError).FirstOrDefault();
        if (file is null)
        {
            return;
        }

        EnclaveImageTestResult result;
        try
        {
            result = EnclaveImageTestResult.Compare(EnclaveImageReader.Read(file, CancellationToken).Measurements, ExpectedValues(Expected));
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ex is NitroEnclaveException or IOException or UnauthorizedAccessException)
        {
            WriteItemError(ex, file);
            return;
        }

        foreach (var mismatch in result.Mismatches)
        {
            WriteWarning(mismatch.Actual is null
                ? $"{mismatch.Measurement}: expected {mismatch.Expected}, but '{file}' has none (it is not signed)."
                : $"{mismatch.Measurement}: expected {mismatch.Expected}, but '{file}' has {mismatch.Actual}.");
        }

        WriteObject(result);
    }

    /// <summary>PCR index to hex from the forms -Expected takes; an object with Measurements (an image, nitro-cli JSON) is looked into.</summary>
    private static Dictionary<int, string> ExpectedValues(PSObject expected)
    {
        var values = new Dictionary<int, string>();
        switch (expected.BaseObject)
        {
            case EnclaveMeasurements measurements:
                return new Dictionary<int, string>(measurements.ToDictionary());
            case EnclaveImage image:
                return new Dictionary<int, string>(image.Measurements.ToDictionary());
            case System.Collections.IDictionary dictionary:
                foreach (System.Collections.DictionaryEntry entry in dictionary)
                {
                    var key = entry.Key?.ToString() ?? string.Empty;
                    var index = key.StartsWith("PCR", StringComparison.OrdinalIgnoreCase) ? key[3..] : key;
                    if (!int.TryParse(index, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var register))
                    {
                        throw new NitroEnclaveException(EnclaveImageTestResult.ExpectedInvalid, ErrorKind.InvalidArgument, $"'{key}' does not name a PCR: use PCR0, PCR1, PCR2 or PCR8.");
                    }

                    if (entry.Value is not null)
                    {
                        values[register] = entry.Value.ToString()!;
                    }
                }

                return values;
        }

        foreach (var register in Registers)
        {
            if (expected.Properties["PCR" + register]?.Value is { } value)
            {
                values[register] = value.ToString()!;
            }
        }

        if (values.Count == 0 && expected.Properties["Measurements"]?.Value is { } nested)
        {
            return ExpectedValues(PSObject.AsPSObject(nested));
        }

        return values;
    }
}
