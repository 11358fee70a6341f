namespace NitroEnclave.Detection;

/// <summary>How a detector's outputs are laid out.</summary>
public enum DetectorModelKind
{
    /// <summary>Chosen by inspecting the model's inputs and outputs.</summary>
    Auto,

    /// <summary>SSD: boxes [1, N, 1, 4] or [1, N, 4] (ymin, xmin, ymax, xmax, 0..1) and scores [1, N, C]; stretched RGB 0..255 input.</summary>
    Ssd,

    /// <summary>YOLOv5: [1, N, 5 + C] (cx, cy, w, h, objectness, class scores); letterboxed RGB 0..1 input.</summary>
    YoloV5,

    /// <summary>YOLOv8 / YOLO11: [1, 4 + C, N] (cx, cy, w, h, class scores); letterboxed RGB 0..1 input.</summary>
    YoloV8,
}

/// <summary>A box in normalised image coordinates (0..1 of the oriented image's width and height).</summary>
public readonly record struct DetectionBox(double XMin, double YMin, double XMax, double YMax)
{
    public double Area => Math.Max(0, XMax - XMin) * Math.Max(0, YMax - YMin);

    /// <summary>Intersection over union with another box.</summary>
    public double IoU(DetectionBox other)
    {
        var width = Math.Min(XMax, other.XMax) - Math.Max(XMin, other.XMin);
        var height = Math.Min(YMax, other.YMax) - Math.Max(YMin, other.YMin);
        if (width <= 0 || height <= 0)
        {
            return 0;
        }

        var intersection = width * height;
        return intersection / (Area + other.Area - intersection);
    }
}

/// <summary>A box in pixels of the oriented image; XMax and YMax are exclusive.</summary>
public readonly record struct PixelBox(int XMin, int YMin, int XMax, int YMax)
{
    public int Width => XMax - XMin;

    public int Height => YMax - YMin;
}

/// <summary>One detected object.</summary>
public sealed class Detection(string label, int classId, double score, DetectionBox box, PixelBox pixelBox)
{
    public string Label { get; } = label;

    /// <summary>The class id in the model's label space (COCO ids 1..90 for the default SSD model, 0..79 for YOLO).</summary>
    public int ClassId { get; } = classId;

    /// <summary>Confidence, 0..1.</summary>
    public double Score { get; } = score;

    public DetectionBox Box { get; } = box;

    public PixelBox PixelBox { get; } = pixelBox;

    public override string ToString() => FormattableString.Invariant($"{Label} {Score:F2} [{Box.XMin:F3}, {Box.YMin:F3}, {Box.XMax:F3}, {Box.YMax:F3}]");
}

/// <summary>Wall-clock time of each stage of one detection.</summary>
public sealed class DetectionTimings(TimeSpan decode, TimeSpan preprocess, TimeSpan inference, TimeSpan postprocess)
{
    public TimeSpan Decode { get; } = decode;

    public TimeSpan Preprocess { get; } = preprocess;

    public TimeSpan Inference { get; } = inference;

    public TimeSpan Postprocess { get; } = postprocess;

    public TimeSpan Total => Decode + Preprocess + Inference + Postprocess;
}

/// <summary>Everything found in one image.</summary>
public sealed class DetectionResult(IReadOnlyList<Detection> detections, int imageWidth, int imageHeight, string model, DetectionTimings timings)
{
    /// <summary>Highest score first.</summary>
    public IReadOnlyList<Detection> Detections { get; } = detections;

    /// <summary>Width of the image as displayed (after EXIF orientation).</summary>
    public int ImageWidth { get; } = imageWidth;

    public int ImageHeight { get; } = imageHeight;

    public string Model { get; } = model;

    public DetectionTimings Timings { get; } = timings;
}
