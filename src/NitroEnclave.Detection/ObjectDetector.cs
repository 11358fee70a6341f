using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace NitroEnclave.Detection;

/// <summary>
/// An object detector around one ONNX Runtime session, created once and reused for every image (thread-safe:
/// ONNX Runtime sessions may run concurrently).
/// </summary>
public sealed class ObjectDetector : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly DetectorOptions options;
    private readonly string inputName;
    private readonly string[] outputNames;
    private readonly int classCount;

    private ObjectDetector(InferenceSession session, DetectorOptions options, ModelLayout layout, IReadOnlyList<string> labels)
    {
        this.session = session;
        this.options = options;
        inputName = layout.InputName;
        outputNames = layout.OutputNames;
        classCount = layout.ClassCount;
        Kind = layout.Kind;
        InputWidth = layout.InputWidth;
        InputHeight = layout.InputHeight;
        Labels = labels;
        ModelName = options.ModelName ?? Path.GetFileNameWithoutExtension(options.ModelPath);
    }

    public DetectorModelKind Kind { get; }

    public int InputWidth { get; }

    public int InputHeight { get; }

    public IReadOnlyList<string> Labels { get; }

    public string ModelName { get; }

    /// <summary>Loads the model and its labels and works out the output layout.</summary>
    public static ObjectDetector Create(DetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!File.Exists(options.ModelPath))
        {
            throw new NitroEnclaveException(DetectionErrors.ModelNotFound, ErrorKind.NotFound, $"model file {options.ModelPath} not found (scripts/prepare-models.sh creates the default model)");
        }

        var labelsPath = options.ResolvedLabelsPath;
        if (!File.Exists(labelsPath))
        {
            throw new NitroEnclaveException(DetectionErrors.LabelsNotFound, ErrorKind.NotFound, $"labels file {labelsPath} not found");
        }

        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        InferenceSession session;
        try
        {
            session = new InferenceSession(options.ModelPath, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new NitroEnclaveException(DetectionErrors.ModelInvalid, ErrorKind.InvalidData, $"model {options.ModelPath} cannot be loaded: {e.Message}");
        }

        try
        {
            var layout = ModelLayout.Inspect(session, options.Kind);
            var labels = File.ReadAllLines(labelsPath);
            if (labels.Length != layout.ClassCount)
            {
                throw new NitroEnclaveException(DetectionErrors.ModelUnsupported, ErrorKind.InvalidData, $"the model has {layout.ClassCount} classes but {labelsPath} has {labels.Length} labels");
            }

            return new ObjectDetector(session, options, layout, labels);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>An upper bound of the memory that decoding <paramref name="encodedImage"/> for <see cref="Detect(byte[])"/> takes.</summary>
    public long DecodeMemoryBound(byte[] encodedImage) => ImageDecoder.DecodeMemoryBound(encodedImage, InputWidth, InputHeight, options.MaxPixels);

    /// <summary>Decodes an encoded JPEG or PNG image and detects objects in it.</summary>
    public DetectionResult Detect(byte[] encodedImage)
    {
        var watch = Stopwatch.StartNew();
        var (image, width, height) = ImageDecoder.DecodeAtLeast(encodedImage, InputWidth, InputHeight, options.MaxPixels);
        var decode = watch.Elapsed;
        return Detect(image, width, height, decode, watch);
    }

    /// <summary>
    /// Detects in two blank JPEGs: ONNX Runtime allocates its buffers and picks its kernels at the first run, and each
    /// decoder (the full one for small images, the 1/8-scale one for images at least 8 times the model's input) touches
    /// its code and buffers for the first time, which would otherwise make the first real images slower than the rest.
    /// </summary>
    public void WarmUp()
    {
        foreach (var scale in new[] { 2, 8 })
        {
            var (width, height) = (scale * InputWidth, scale * InputHeight);
            var gray = new byte[3 * width * height];
            Array.Fill(gray, (byte)128);
            using var jpeg = new MemoryStream();
            new StbImageWriteSharp.ImageWriter().WriteJpg(gray, width, height, StbImageWriteSharp.ColorComponents.RedGreenBlue, jpeg, 90);
            Detect(jpeg.ToArray());
        }
    }

    /// <summary>Detects objects in an already decoded image.</summary>
    public DetectionResult Detect(DecodedImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Detect(image, image.Width, image.Height, TimeSpan.Zero, Stopwatch.StartNew());
    }

    public void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }

    /// <summary>Runs the model on <paramref name="image"/>, which may be a scaled decode of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    private DetectionResult Detect(DecodedImage image, int width, int height, TimeSpan decode, Stopwatch watch)
    {
        var started = watch.Elapsed;
        var input = new float[3 * InputWidth * InputHeight];
        Letterbox letterbox = default;
        if (Kind == DetectorModelKind.Ssd)
        {
            Preprocessing.Stretch(image, input, InputWidth, InputHeight);
        }
        else
        {
            letterbox = Preprocessing.Letterbox(image, input, InputWidth, InputHeight);
        }

        var preprocessed = watch.Elapsed;
        List<Candidate> candidates;
        TimeSpan inferred;
        using (var inputValue = OrtValue.CreateTensorValueFromMemory(input, [1, 3, InputHeight, InputWidth]))
        using (var outputs = session.Run(runOptions, [inputName], [inputValue], outputNames))
        {
            inferred = watch.Elapsed;
            var threshold = (float)options.ScoreThreshold;
            candidates = Kind switch
            {
                DetectorModelKind.Ssd => OutputDecoding.Ssd(outputs[0].GetTensorDataAsSpan<float>(), outputs[1].GetTensorDataAsSpan<float>(), classCount, threshold),
                DetectorModelKind.YoloV5 => OutputDecoding.YoloV5(outputs[0].GetTensorDataAsSpan<float>(), classCount, threshold, new LetterboxedInput(InputWidth, InputHeight, letterbox, image.Width, image.Height)),
                _ => OutputDecoding.YoloV8(outputs[0].GetTensorDataAsSpan<float>(), classCount, threshold, new LetterboxedInput(InputWidth, InputHeight, letterbox, image.Width, image.Height)),
            };
        }

        var kept = OutputDecoding.NonMaximumSuppression(candidates, options.IouThreshold, options.MaxDetections);
        var classIdOffset = Kind == DetectorModelKind.Ssd ? 1 : 0;
        var detections = kept.Select(c => ToDetection(c, width, height, classIdOffset)).ToArray();
        var done = watch.Elapsed;
        var timings = new DetectionTimings(decode, preprocessed - started, inferred - preprocessed, done - inferred);
        return new DetectionResult(detections, width, height, ModelName, timings);
    }

    private Detection ToDetection(Candidate candidate, int width, int height, int classIdOffset)
    {
        var box = new DetectionBox(candidate.XMin, candidate.YMin, candidate.XMax, candidate.YMax);
        var pixels = new PixelBox(
            (int)Math.Round(box.XMin * width),
            (int)Math.Round(box.YMin * height),
            (int)Math.Round(box.XMax * width),
            (int)Math.Round(box.YMax * height));
        var classId = candidate.ClassIndex + classIdOffset;
        var label = Labels[candidate.ClassIndex];
        return new Detection(label.Length == 0 ? $"class {classId}" : label, classId, candidate.Score, box, pixels);
    }
}
