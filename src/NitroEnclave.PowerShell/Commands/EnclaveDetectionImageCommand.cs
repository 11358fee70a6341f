using System.Collections;
using System.Globalization;
using System.Management.Automation;
using NitroEnclave.Detection;
using NitroEnclave.Detection.Annotation;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Draws the boxes and labels of a detection result onto the plaintext image and writes a PNG or JPEG.</para>
/// </summary>
[Cmdlet(VerbsData.Export, "EnclaveDetectionImage", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class ExportEnclaveDetectionImageCommand : NitroEnclaveCmdlet
{
    /// <summary>A result of Invoke-EnclaveDetection, or any object with Objects, ImageWidth and ImageHeight properties.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PSObject InputObject { get; set; } = null!;

    /// <summary>The plaintext image the detection was made on, used exactly as typed.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string ImagePath { get; set; } = string.Empty;

    /// <summary>The annotated image to write.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    /// <summary>Png or Jpeg; by default taken from the destination's extension.</summary>
    [Parameter]
    [ValidateSet("Png", "Jpeg")]
    public string? Format { get; set; }

    /// <summary>JPEG quality, 1..100.</summary>
    [Parameter]
    [ValidateRange(1, 100)]
    public int Quality { get; set; } = DetectionAnnotator.DefaultJpegQuality;

    /// <summary>Objects scoring below this are not drawn.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double MinScore { get; set; }

    /// <summary>Replaces an existing destination and draws even when the image's size differs from the detection's.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        string destination;
        try
        {
            destination = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination);
        }
        catch (SessionStateException e)
        {
            WriteError(ToErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, Destination));
            return;
        }

        if (FilePathResolver.Resolve(this, ImagePath, literal: true, WriteError).FirstOrDefault() is not { } image)
        {
            return;
        }

        try
        {
            var (objects, width, height) = DetectionReader.Read(InputObject);
            var options = new AnnotationOptions
            {
                MinScore = MinScore,
                Format = Format is null ? null : Enum.Parse<ImageFormat>(Format, ignoreCase: true),
                JpegQuality = Quality,
                Overwrite = Force,
                AllowSizeMismatch = Force,
            };
            var format = DetectionAnnotator.ResolveFormat(destination, options.Format);
            var drawn = objects.Count(o => o.Score >= MinScore);
            if (!ShouldProcess(destination, $"Write a {format} image with {drawn} detected objects drawn on '{image}'"))
            {
                return;
            }

            var written = DetectionAnnotator.Export(image, destination, objects, width, height, options);
            if (PassThru)
            {
                WriteObject(new FileInfo(written));
            }
        }
        catch (NitroEnclaveException e)
        {
            WriteItemError(e, e.ErrorId is AnnotationErrors.DestinationExists or AnnotationErrors.WriteFailed or AnnotationErrors.FormatUnknown ? destination : image);
        }
    }

    /// <summary>
    /// Reads a detection from the pipeline object: the module's own result type, or anything shaped like it (a
    /// deserialised result, a pscustomobject), whose objects have Label, ClassId, Score and Box.XMin/YMin/XMax/YMax.
    /// </summary>
    private static class DetectionReader
    {
        public static (IReadOnlyList<DetectedObject> Objects, int Width, int Height) Read(PSObject input)
        {
            if (input.BaseObject is EnclaveDetectionResult result)
            {
                return (result.Objects, result.ImageWidth, result.ImageHeight);
            }

            var width = Number<int>(input, "ImageWidth", "the detection");
            var height = Number<int>(input, "ImageHeight", "the detection");
            if (width <= 0 || height <= 0)
            {
                throw Invalid($"the detection's image size {width} x {height} is not a size");
            }

            var objects = Member(input, "Objects") is { } list
                ? (LanguagePrimitives.GetEnumerable(list)?.Cast<object?>() ?? [list]).Select((o, i) => ReadObject(o, i, width, height)).ToList()
                : throw Invalid("the detection has no Objects property");
            return (objects, width, height);
        }

        private static DetectedObject ReadObject(object? item, int index, int width, int height)
        {
            var what = $"object {index}";
            if (item is null)
            {
                throw Invalid($"{what} of the detection is null");
            }

            var label = Member(item, "Label")?.ToString() ?? string.Empty;
            var classId = Member(item, "ClassId") is null ? StableClass(label) : Number<int>(item, "ClassId", what);
            var score = Number<double>(item, "Score", what);
            var box = Member(item, "Box") ?? throw Invalid($"{what} of the detection has no Box");
            var (xMin, yMin) = (Number<double>(box, "XMin", what), Number<double>(box, "YMin", what));
            var (xMax, yMax) = (Number<double>(box, "XMax", what), Number<double>(box, "YMax", what));
            return new DetectedObject(
                label,
                classId,
                score,
                new BoundingBox(xMin, yMin, xMax, yMax),
                new BoundingBox(xMin * width, yMin * height, xMax * width, yMax * height));
        }

        /// <summary>Without a class id, objects with the same label still share a colour.</summary>
        private static int StableClass(string label)
        {
            var hash = 17;
            foreach (var c in label.ToUpperInvariant())
            {
                hash = unchecked((hash * 31) + c);
            }

            return hash & int.MaxValue;
        }

        private static T Number<T>(object source, string name, string what)
        {
            var value = Member(source, name) ?? throw Invalid($"{what} has no {name}");
            try
            {
                return (T)LanguagePrimitives.ConvertTo(value, typeof(T), CultureInfo.InvariantCulture);
            }
            catch (PSInvalidCastException)
            {
                throw Invalid($"the {name} of {what} is '{value}', not a number");
            }
        }

        /// <summary>A property of an object, or an entry of a hashtable; null when absent.</summary>
        private static object? Member(object source, string name)
        {
            var target = source is PSObject wrapped ? wrapped.BaseObject : source;
            if (target is IDictionary dictionary)
            {
                return Unwrap(dictionary.Contains(name) ? dictionary[name] : null);
            }

            return Unwrap(PSObject.AsPSObject(source).Properties[name]?.Value);
        }

        private static object? Unwrap(object? value) => value is PSObject { BaseObject: not PSCustomObject } wrapped ? wrapped.BaseObject : value;

        private static NitroEnclaveException Invalid(string message) => new(AnnotationErrors.DetectionInvalid, ErrorKind.InvalidData, message);
    }
}
