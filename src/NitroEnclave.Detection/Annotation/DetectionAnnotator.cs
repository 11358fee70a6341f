using System.Globalization;
using NitroEnclave.Protocol;

namespace NitroEnclave.Detection.Annotation;

/// <summary>
/// Draws detected objects onto the plaintext image they were found in: a box outline per object and a tag with its
/// label and score, coloured by class. Box coordinates are normalised to the upright (EXIF-oriented) image, as the
/// detector reports them.
/// </summary>
public static class DetectionAnnotator
{
    public const int DefaultJpegQuality = 90;

    /// <summary>Twenty colours that stay distinguishable from each other on photographs; a class always gets the same one.</summary>
    private static readonly (byte R, byte G, byte B)[] Palette =
    [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
        (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
        (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
    ];

    /// <summary>The colour objects of class <paramref name="classId"/> are drawn in.</summary>
    public static (byte R, byte G, byte B) ColourOf(int classId) => Palette[(int)((uint)classId % Palette.Length)];

    /// <summary>Outline width in pixels: thin lines on small images, visible ones on large photographs.</summary>
    public static int LineThickness(int width, int height) => Math.Max(2, Math.Max(width, height) / 400);

    /// <summary>Size of one font pixel, so a tag stays readable at the image's size.</summary>
    public static int FontScale(int width, int height) => Math.Max(1, Math.Max(width, height) / 320);

    /// <summary>The tag text of an object, e.g. "airplane 0.78".</summary>
    public static string TagText(DetectedObject detected)
    {
        ArgumentNullException.ThrowIfNull(detected);
        var label = string.IsNullOrWhiteSpace(detected.Label) ? $"class {detected.ClassId}" : detected.Label.Trim();
        return string.Create(CultureInfo.InvariantCulture, $"{label} {detected.Score:0.00}");
    }

    /// <summary>Picks the output format: <paramref name="format"/> when given, else the extension of <paramref name="destination"/>.</summary>
    public static ImageFormat ResolveFormat(string destination, ImageFormat? format)
    {
        if (format is { } chosen)
        {
            return chosen;
        }

        return Path.GetExtension(destination).ToUpperInvariant() switch
        {
            ".PNG" => ImageFormat.Png,
            ".JPG" or ".JPEG" => ImageFormat.Jpeg,
            _ => throw new NitroEnclaveException(AnnotationErrors.FormatUnknown, ErrorKind.InvalidArgument, $"cannot tell the format from '{Path.GetFileName(destination)}': name a .png, .jpg or .jpeg file, or choose a format"),
        };
    }

    /// <summary>
    /// Decodes <paramref name="imageData"/> (JPEG or PNG, EXIF orientation applied) and draws the objects scoring at
    /// least <see cref="AnnotationOptions.MinScore"/>. The image must be <paramref name="expectedWidth"/> x
    /// <paramref name="expectedHeight"/>, the size the detection reports, unless <see cref="AnnotationOptions.AllowSizeMismatch"/>.
    /// </summary>
    public static AnnotatedImage Draw(byte[] imageData, IEnumerable<DetectedObject> objects, int expectedWidth, int expectedHeight, AnnotationOptions options)
    {
        ArgumentNullException.ThrowIfNull(objects);
        ArgumentNullException.ThrowIfNull(options);
        if (!double.IsFinite(options.MinScore) || options.MinScore is < 0 or > 1)
        {
            throw new NitroEnclaveException(AnnotationErrors.OptionInvalid, ErrorKind.InvalidArgument, "the minimum score must be between 0 and 1");
        }

        var selected = objects.Where(o => Validate(o).Score >= options.MinScore).ToList();
        var image = AnnotatedImage.FromDecoded(ImageDecoder.Decode(imageData, options.MaxPixels));
        if (!options.AllowSizeMismatch && (image.Width != expectedWidth || image.Height != expectedHeight))
        {
            throw new NitroEnclaveException(
                AnnotationErrors.ImageMismatch,
                ErrorKind.InvalidData,
                $"the image is {image.Width} x {image.Height} pixels but the detection was made on a {expectedWidth} x {expectedHeight} image: it is probably not the image that was detected");
        }

        var thickness = LineThickness(image.Width, image.Height);
        // A box wholly outside the image has nothing to outline, and its tag would point at nothing.
        var boxes = selected
            .Select(o => (Object: o, Pixels: ToPixels(o.Box, image.Width, image.Height)))
            .Where(b => b.Pixels.Right > 0 && b.Pixels.Left < image.Width && b.Pixels.Bottom > 0 && b.Pixels.Top < image.Height)
            .ToList();
        foreach (var (detected, box) in boxes)
        {
            image.Outline(box.Left, box.Top, box.Right, box.Bottom, thickness, ColourOf(detected.ClassId));
        }

        // Tags after every outline, so no box is drawn across another object's label.
        var scale = FontScale(image.Width, image.Height);
        foreach (var (detected, box) in boxes)
        {
            DrawTag(image, detected, box, scale);
        }

        return image;
    }

    /// <summary>
    /// Reads the plaintext image at <paramref name="imagePath"/>, draws the objects and writes the result to
    /// <paramref name="destination"/> through a temporary file renamed into place. Returns the full destination path.
    /// </summary>
    public static string Export(string imagePath, string destination, IEnumerable<DetectedObject> objects, int expectedWidth, int expectedHeight, AnnotationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var format = ResolveFormat(destination, options.Format);
        var target = Path.GetFullPath(destination);
        if (!options.Overwrite && File.Exists(target))
        {
            throw Exists(target);
        }

        var annotated = Draw(ReadImage(imagePath, options.MaxPixels), objects, expectedWidth, expectedHeight, options);
        WriteAtomically(target, annotated.Encode(format, options.JpegQuality), options.Overwrite);
        return target;
    }

    private static DetectedObject Validate(DetectedObject detected)
    {
        ArgumentNullException.ThrowIfNull(detected);
        if (detected.Box is not { } box)
        {
            throw AnnotationErrors.Invalid($"the object '{detected.Label}' has no box");
        }

        if (!double.IsFinite(detected.Score) || !double.IsFinite(box.XMin) || !double.IsFinite(box.YMin) || !double.IsFinite(box.XMax) || !double.IsFinite(box.YMax))
        {
            throw AnnotationErrors.Invalid($"the object '{detected.Label}' has a score or box coordinate that is not a finite number");
        }

        return detected;
    }

    private readonly record struct PixelRectangle(long Left, long Top, long Right, long Bottom);

    /// <summary>
    /// Normalised box to pixel edges. Coordinates beyond the image are kept (limited to one image size out, so
    /// nothing overflows) and clipped when drawn: an edge outside the image is not drawn.
    /// </summary>
    private static PixelRectangle ToPixels(BoundingBox box, int width, int height)
    {
        static long Edge(double value, int size) => (long)Math.Round(Math.Clamp(value, -1, 2) * size, MidpointRounding.AwayFromZero);

        var (left, right) = (Edge(Math.Min(box.XMin, box.XMax), width), Edge(Math.Max(box.XMin, box.XMax), width));
        var (top, bottom) = (Edge(Math.Min(box.YMin, box.YMax), height), Edge(Math.Max(box.YMin, box.YMax), height));
        return new PixelRectangle(left, top, Math.Max(right, left + 1), Math.Max(bottom, top + 1));
    }

    /// <summary>A filled tag in the box colour above the box (inside it when there is no room above), kept within the image.</summary>
    private static void DrawTag(AnnotatedImage image, DetectedObject detected, PixelRectangle box, int scale)
    {
        var text = TagText(detected);
        var padding = scale;
        var tagWidth = (BitmapFont.MeasureWidth(text) * (long)scale) + (2 * padding);
        var tagHeight = (BitmapFont.GlyphHeight * (long)scale) + (2 * padding);
        var top = box.Top - tagHeight >= 0 ? box.Top - tagHeight : Math.Max(box.Top, 0);
        top = Math.Min(top, image.Height - tagHeight);
        var left = Math.Max(0, Math.Min(box.Left, image.Width - tagWidth));
        var colour = ColourOf(detected.ClassId);
        image.Fill(left, top, left + tagWidth, top + tagHeight, colour);
        image.Text(left + padding, top + padding, text, scale, TextColourOn(colour));
    }

    /// <summary>Black on light colours, white on dark ones (ITU-R BT.601 luma).</summary>
    private static (byte R, byte G, byte B) TextColourOn((byte R, byte G, byte B) background) =>
        (0.299 * background.R) + (0.587 * background.G) + (0.114 * background.B) > 140 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255);

    private static byte[] ReadImage(string path, long maxPixels)
    {
        try
        {
            // A JPEG or PNG file is never much larger than its raw pixels: a bigger file is refused before it is read.
            var length = new FileInfo(path).Length;
            if (length > (maxPixels * 4) + (1 << 20))
            {
                throw new NitroEnclaveException(DetectionErrors.ImageTooLarge, ErrorKind.InvalidData, $"the image file is {length} bytes, too large for the limit of {maxPixels} pixels");
            }

            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new NitroEnclaveException(AnnotationErrors.ImageNotFound, ErrorKind.NotFound, $"the image '{path}' does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NitroEnclaveException(AnnotationErrors.ImageUnreadable, ErrorKind.InvalidOperation, $"the image '{path}' cannot be read: {e.Message}", e);
        }
    }

    private static void WriteAtomically(string target, byte[] bytes, bool overwrite)
    {
        var directory = Path.GetDirectoryName(target)!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, target, overwrite);
        }
        catch (IOException) when (!overwrite && File.Exists(target))
        {
            throw Exists(target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NitroEnclaveException(AnnotationErrors.WriteFailed, ErrorKind.InvalidOperation, $"cannot write '{target}': {e.Message}", e);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    private static NitroEnclaveException Exists(string target) =>
        new(AnnotationErrors.DestinationExists, ErrorKind.InvalidOperation, $"'{target}' already exists; replace it only when asked to (force)");
}
