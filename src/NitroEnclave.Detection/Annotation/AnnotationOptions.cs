namespace NitroEnclave.Detection.Annotation;

/// <summary>How detections are drawn and the annotated image is written.</summary>
public sealed class AnnotationOptions
{
    /// <summary>Objects scoring below this (0..1) are not drawn.</summary>
    public double MinScore { get; init; }

    /// <summary>The output format; null picks it from the destination's extension.</summary>
    public ImageFormat? Format { get; init; }

    /// <summary>JPEG quality, 1..100.</summary>
    public int JpegQuality { get; init; } = DetectionAnnotator.DefaultJpegQuality;

    /// <summary>Draws even when the image's size differs from the size the detection reports.</summary>
    public bool AllowSizeMismatch { get; init; }

    /// <summary>Replaces an existing destination file.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Images with more pixels than this are refused before they are decoded.</summary>
    public long MaxPixels { get; init; } = ImageDecoder.DefaultMaxPixels;
}
