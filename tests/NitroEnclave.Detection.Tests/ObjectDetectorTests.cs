namespace NitroEnclave.Detection.Tests;

[Collection(DetectorGroup.Name)]
public sealed class ObjectDetectorTests(DetectorFixture detectors) : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("nitroenclave-detection-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void The_default_model_is_recognised_as_ssd_with_coco_labels()
    {
        var ssd = detectors.Ssd;
        Assert.Equal(DetectorModelKind.Ssd, ssd.Kind);
        Assert.Equal((300, 300), (ssd.InputWidth, ssd.InputHeight));
        Assert.Equal(90, ssd.Labels.Count);
        Assert.Equal("person", ssd.Labels[0]);
        Assert.Equal("airplane", ssd.Labels[4]);
        Assert.Equal((640, 640, 80), (detectors.Yolo.InputWidth, detectors.Yolo.InputHeight, detectors.Yolo.Labels.Count));
    }

    [Fact]
    public void An_exif_rotated_photo_is_detected_in_its_displayed_orientation()
    {
        // Store the air show rotated 90 degrees counter-clockwise (a quarter of its size) and tag it "rotate 90 CW to
        // display" (orientation 6): detection must see the upright scene and report boxes in its coordinates.
        var upright = ImageDecoder.Decode(TestFiles.DataBytes("air-show.jpg"));
        var (width, height) = (upright.Width / 4, upright.Height / 4);
        var stored = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                // Displayed (x, y) is stored (y, width - 1 - x) in a height x width stored image.
                var offset = (((width - 1 - x) * height) + y) * 3;
                (stored[offset], stored[offset + 1], stored[offset + 2]) = upright.GetPixel(x * 4, y * 4);
            }
        }

        var jpeg = TestImages.WithOrientation(TestImages.Jpeg(stored, height, width, quality: 92), 6);
        var result = detectors.Ssd.Detect(jpeg);

        Assert.Equal((width, height), (result.ImageWidth, result.ImageHeight));
        DetectionAccuracyTests.AssertMatchesReferenceJets(result);
    }

    [Fact]
    public void Bad_images_fail_with_typed_errors_through_the_detector()
    {
        Assert.Equal(DetectionErrors.ImageUnrecognized, Assert.Throws<NitroEnclaveException>(() => detectors.Ssd.Detect("not an image"u8.ToArray())).ErrorId);
        Assert.Equal(DetectionErrors.ImageEmpty, Assert.Throws<NitroEnclaveException>(() => detectors.Ssd.Detect([])).ErrorId);
        using var small = ObjectDetector.Create(new DetectorOptions { ModelPath = TestFiles.SsdModel, MaxPixels = 1_000_000, IntraOpThreads = 1 });
        Assert.Equal(DetectionErrors.ImageTooLarge, Assert.Throws<NitroEnclaveException>(() => small.Detect(TestFiles.DataBytes("air-show.jpg"))).ErrorId);
    }

    [Fact]
    public void A_missing_model_or_labels_file_is_not_found()
    {
        var missing = Create(new DetectorOptions { ModelPath = Path.Combine(directory, "absent.onnx") });
        Assert.Equal((DetectionErrors.ModelNotFound, ErrorKind.NotFound), (missing.ErrorId, missing.Kind));

        var copy = Path.Combine(directory, "copy.onnx");
        File.Copy(TestFiles.SsdModel, copy);
        Assert.Equal(DetectionErrors.LabelsNotFound, Create(new DetectorOptions { ModelPath = copy }).ErrorId);
    }

    [Fact]
    public void A_file_that_is_not_a_model_is_invalid()
    {
        var path = Path.Combine(directory, "garbage.onnx");
        File.WriteAllBytes(path, "definitely not protobuf"u8.ToArray());
        File.WriteAllText(Path.Combine(directory, "garbage.labels.txt"), "thing\n");
        Assert.Equal(DetectionErrors.ModelInvalid, Create(new DetectorOptions { ModelPath = path }).ErrorId);
    }

    [Fact]
    public void Layouts_that_do_not_fit_are_unsupported()
    {
        var ssdLabels = Path.ChangeExtension(TestFiles.SsdModel, null) + ".labels.txt";
        Assert.Equal(DetectionErrors.ModelUnsupported, Create(new DetectorOptions { ModelPath = TestFiles.YoloModel, Kind = DetectorModelKind.Ssd }).ErrorId);
        Assert.Equal(DetectionErrors.ModelUnsupported, Create(new DetectorOptions { ModelPath = TestFiles.SsdModel, Kind = DetectorModelKind.YoloV5 }).ErrorId);
        var mismatch = Create(new DetectorOptions { ModelPath = TestFiles.YoloModel, LabelsPath = ssdLabels });
        Assert.Equal(DetectionErrors.ModelUnsupported, mismatch.ErrorId);
        Assert.Contains("80 classes", mismatch.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-0.1, 0.5, 20, 0, 1000)]
    [InlineData(0.5, 1.5, 20, 0, 1000)]
    [InlineData(0.5, 0.5, 0, 0, 1000)]
    [InlineData(0.5, 0.5, 20, -1, 1000)]
    [InlineData(0.5, 0.5, 20, 0, 0)]
    public void Invalid_options_are_refused(double score, double iou, int max, int threads, long pixels)
    {
        var error = Create(new DetectorOptions { ModelPath = TestFiles.SsdModel, ScoreThreshold = score, IouThreshold = iou, MaxDetections = max, IntraOpThreads = threads, MaxPixels = pixels });
        Assert.Equal((DetectionErrors.OptionInvalid, ErrorKind.InvalidArgument), (error.ErrorId, error.Kind));
    }

    private static NitroEnclaveException Create(DetectorOptions options) =>
        Assert.Throws<NitroEnclaveException>(() => ObjectDetector.Create(options).Dispose());
}
