using System.Globalization;
using NitroEnclave.Detection;
using StbImageWriteSharp;

namespace NitroEnclave.Bench;

/// <summary>
/// Object detection with the default SSDLite model: per-stage and total time on air-show.jpg (3994 x 3235 JPEG) and on
/// a 640 x 480 JPEG photo, the share of pre- and post-processing against inference, and the peak memory of a process
/// with the model loaded. Issue 6 targets: under 400 ms and 50 ms, pre+post at most half of inference, under 300 MiB.
/// Needs scripts/prepare-models.sh and scripts/fetch-test-photos.sh.
/// </summary>
internal static class DetectionBenchmark
{
    private const int Threads = 2;

    public static void Run(TextWriter report)
    {
        var root = RepositoryRoot();
        using var detector = ObjectDetector.Create(new DetectorOptions { ModelPath = ModelPath(root), IntraOpThreads = Threads });
        var airShow = File.ReadAllBytes(Path.Combine(root, "tests", "data", "detection", "air-show.jpg"));
        var photo = Photo640x480(root);

        var large = Stages(detector, airShow, 10);
        var small = Stages(detector, photo, 40);
        var peak = Measure.RunChild("detection-child").Trim();

        report.WriteLine("## Object detection (SSDLite MobileNetV2 COCO, ONNX Runtime)");
        report.WriteLine();
        report.WriteLine($"Intra-op threads: {Threads}. Median of 10 (air-show) and 40 (640 x 480) runs after a warm-up; each stage's median is shown, total is the median of the per-run totals.");
        report.WriteLine();
        report.WriteLine("| image | decode | preprocess | inference | postprocess | total | (pre + post) / inference |");
        report.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Row(report, "air-show.jpg, 3994 x 3235 JPEG (678 KB)", large);
        Row(report, "dog.jpg centre crop, 640 x 480 JPEG", small);
        report.WriteLine();
        report.WriteLine($"Peak RSS of a process that loads the model and detects in both images: {peak} MiB (target under 300 MiB).");
        report.WriteLine("Pre-processing counts decoding as part of it in the ratio column: (decode + resize + postprocess) / inference.");
        report.WriteLine();
    }

    /// <summary>Child process entry: load the model, detect in both images, print the peak RSS in MiB.</summary>
    public static void Child()
    {
        var root = RepositoryRoot();
        using var detector = ObjectDetector.Create(new DetectorOptions { ModelPath = ModelPath(root), IntraOpThreads = Threads });
        detector.Detect(File.ReadAllBytes(Path.Combine(root, "tests", "data", "detection", "air-show.jpg")));
        detector.Detect(Photo640x480(root));
        Console.WriteLine(Measure.PeakRssMiB().ToString("F1", CultureInfo.InvariantCulture));
    }

    private static double[][] Stages(ObjectDetector detector, byte[] image, int runs)
    {
        detector.Detect(image);
        var timings = Enumerable.Range(0, runs).Select(_ => detector.Detect(image).Timings).ToArray();
        return
        [
            timings.Select(t => t.Decode.TotalMilliseconds).ToArray(),
            timings.Select(t => t.Preprocess.TotalMilliseconds).ToArray(),
            timings.Select(t => t.Inference.TotalMilliseconds).ToArray(),
            timings.Select(t => t.Postprocess.TotalMilliseconds).ToArray(),
            timings.Select(t => t.Total.TotalMilliseconds).ToArray(),
        ];
    }

    private static void Row(TextWriter report, string name, double[][] stages)
    {
        var medians = stages.Select(Median).ToArray();
        var ratio = (medians[0] + medians[1] + medians[3]) / medians[2];
        report.WriteLine(FormattableString.Invariant($"| {name} | {medians[0]:F1} ms | {medians[1]:F1} ms | {medians[2]:F1} ms | {medians[3]:F2} ms | {medians[4]:F1} ms | {ratio:F2} |"));
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>The centre 640 x 480 of darknet's dog.jpg (768 x 576), re-encoded as a JPEG at quality 90.</summary>
    internal static byte[] Photo640x480(string root)
    {
        var path = Path.Combine(root, "tests", "cache", "photos", "dog.jpg");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} is missing: run ./scripts/fetch-test-photos.sh first", path);
        }

        var source = ImageDecoder.Decode(File.ReadAllBytes(path));
        var (left, top) = ((source.Width - 640) / 2, (source.Height - 480) / 2);
        var rgb = new byte[640 * 480 * 3];
        for (var y = 0; y < 480; y++)
        {
            for (var x = 0; x < 640; x++)
            {
                var offset = ((y * 640) + x) * 3;
                (rgb[offset], rgb[offset + 1], rgb[offset + 2]) = source.GetPixel(left + x, top + y);
            }
        }

        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(rgb, 640, 480, ColorComponents.RedGreenBlue, stream, 90);
        return stream.ToArray();
    }

    private static string ModelPath(string root)
    {
        var path = Path.Combine(root, "models", DetectorOptions.DefaultModelFileName);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run ./scripts/prepare-models.sh first", path);
    }

    internal static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "NitroEnclave.psd1")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root (NitroEnclave.psd1) not found");
    }
}
