namespace NitroEnclave.Detection.Annotation;

/// <summary>The stable error ids of drawing detections onto an image.</summary>
public static class AnnotationErrors
{
    /// <summary>The image's size differs from the size the detection reports: most likely not the image that was detected.</summary>
    public const string ImageMismatch = "ImageMismatch";

    /// <summary>The plaintext image file does not exist.</summary>
    public const string ImageNotFound = "ImageNotFound";

    /// <summary>The plaintext image file exists but cannot be read.</summary>
    public const string ImageUnreadable = "ImageUnreadable";

    /// <summary>The destination file exists and replacing it was not asked for.</summary>
    public const string DestinationExists = "DestinationExists";

    /// <summary>Neither a format was given nor does the destination end in .png, .jpg or .jpeg.</summary>
    public const string FormatUnknown = "AnnotationFormatUnknown";

    /// <summary>A detection whose coordinates, score or size are missing or not numbers.</summary>
    public const string DetectionInvalid = "DetectionResultInvalid";

    /// <summary>The annotated image could not be written; nothing is left at the destination.</summary>
    public const string WriteFailed = "AnnotationWriteFailed";

    /// <summary>A JPEG quality outside 1..100 or a minimum score outside 0..1.</summary>
    public const string OptionInvalid = "AnnotationOptionInvalid";

    internal static NitroEnclaveException Invalid(string message) => new(DetectionInvalid, ErrorKind.InvalidData, message);
}
