namespace NitroEnclave.Detection;

/// <summary>The stable error ids of image decoding and object detection.</summary>
public static class DetectionErrors
{
    /// <summary>No bytes, or an image whose width or height is zero.</summary>
    public const string ImageEmpty = "ImageEmpty";

    /// <summary>The bytes are not an image of any known format.</summary>
    public const string ImageUnrecognized = "ImageUnrecognized";

    /// <summary>A known image format or variant the detector does not decode (GIF, BMP, WebP, TIFF, arithmetic or lossless JPEG, ...).</summary>
    public const string ImageUnsupported = "ImageUnsupported";

    /// <summary>The image ends before its data does.</summary>
    public const string ImageTruncated = "ImageTruncated";

    /// <summary>The image is complete but its data cannot be decoded.</summary>
    public const string ImageCorrupt = "ImageCorrupt";

    /// <summary>More pixels than the configured limit (a decompression bomb); refused before any pixel memory is allocated.</summary>
    public const string ImageTooLarge = "ImageTooLarge";

    public const string ModelNotFound = "DetectionModelNotFound";

    public const string ModelInvalid = "DetectionModelInvalid";

    /// <summary>The model's inputs or outputs match none of the supported detector layouts.</summary>
    public const string ModelUnsupported = "DetectionModelUnsupported";

    public const string LabelsNotFound = "DetectionLabelsNotFound";

    public const string OptionInvalid = "DetectionOptionInvalid";

    internal static NitroEnclaveException Image(string id, string message) => new(id, ErrorKind.InvalidData, message);
}
