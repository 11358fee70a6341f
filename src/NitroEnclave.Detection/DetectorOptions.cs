namespace NitroEnclave.Detection;

/// <summary>How to load and run a detector.</summary>
public sealed class DetectorOptions
{
    /// <summary>File name of the default model that scripts/prepare-models.sh writes to models/.</summary>
    public const string DefaultModelFileName = "ssdlite_mobilenet_v2_coco.onnx";

    /// <summary>The ONNX model file.</summary>
    public required string ModelPath { get; init; }

    /// <summary>Labels, one line per output class (blank for unused classes). Default: the model path with ".labels.txt" instead of ".onnx".</summary>
    public string? LabelsPath { get; init; }

    /// <summary>Output layout; <see cref="DetectorModelKind.Auto"/> inspects the model.</summary>
    public DetectorModelKind Kind { get; init; } = DetectorModelKind.Auto;

    /// <summary>Name reported in results. Default: the model file name without extension.</summary>
    public string? ModelName { get; init; }

    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime use one per core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Detections scoring below this are dropped (0..1). The TF.js coco-ssd default is 0.5.</summary>
    public double ScoreThreshold { get; init; } = 0.5;

    /// <summary>Non-maximum suppression drops a box overlapping a better box of the same class by more than this IoU.</summary>
    public double IouThreshold { get; init; } = 0.5;

    /// <summary>At most this many detections, best first.</summary>
    public int MaxDetections { get; init; } = 20;

    /// <summary>Images with more pixels are refused before decoding (decompression bombs).</summary>
    public long MaxPixels { get; init; } = ImageDecoder.DefaultMaxPixels;

    internal string ResolvedLabelsPath => LabelsPath ?? Path.ChangeExtension(ModelPath, null) + ".labels.txt";

    internal void Validate()
    {
        static void Check(bool valid, string message)
        {
            if (!valid)
            {
                throw new NitroEnclaveException(DetectionErrors.OptionInvalid, ErrorKind.InvalidArgument, message);
            }
        }

        Check(!string.IsNullOrWhiteSpace(ModelPath), "a model path is required");
        Check(ScoreThreshold is >= 0 and <= 1, "the score threshold must be between 0 and 1");
        Check(IouThreshold is >= 0 and <= 1, "the IoU threshold must be between 0 and 1");
        Check(MaxDetections >= 1, "the maximum number of detections must be at least 1");
        Check(IntraOpThreads >= 0, "the thread count cannot be negative");
        Check(MaxPixels >= 1, "the pixel limit must be positive");
        Check(Enum.IsDefined(Kind), "unknown model kind");
    }
}
