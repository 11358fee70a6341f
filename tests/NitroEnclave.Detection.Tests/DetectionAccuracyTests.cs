using System.Text.Json;

namespace NitroEnclave.Detection.Tests;

/// <summary>Real photos through the whole pipeline: decode, preprocess, inference, NMS.</summary>
[Collection(DetectorGroup.Name)]
public sealed class DetectionAccuracyTests(DetectorFixture detectors)
{
    [Fact]
    public void Ssdlite_finds_the_five_jets_of_the_air_show_and_nothing_else()
    {
        var result = detectors.Ssd.Detect(TestFiles.DataBytes("air-show.jpg"));

        Assert.Equal((3994, 3235), (result.ImageWidth, result.ImageHeight));
        Assert.Equal("ssdlite_mobilenet_v2_coco", result.Model);
        AssertMatchesReferenceJets(result);
        Assert.All(result.Detections, d => Assert.Equal(5, d.ClassId));
    }

    [Fact]
    public void Yolov5s_finds_the_five_jets_of_the_air_show_and_nothing_else()
    {
        Assert.Equal(DetectorModelKind.YoloV5, detectors.Yolo.Kind);
        var result = detectors.Yolo.Detect(TestFiles.DataBytes("air-show.jpg"));

        AssertMatchesReferenceJets(result);
        Assert.All(result.Detections, d => Assert.True(d.Score > 0.8, $"{d} scores lower than YOLOv5s should"));
    }

    [Theory]
    [InlineData("dog.jpg", new[] { "dog", "bicycle" }, new[] { "car", "truck" })]
    [InlineData("person.jpg", new[] { "person", "dog" }, new[] { "horse", "sheep" })]
    [InlineData("giraffe.jpg", new[] { "giraffe", "zebra" }, new string[0])]
    [InlineData("chelsea.png", new[] { "cat" }, new string[0])]
    public void Ssdlite_finds_the_expected_classes_in_the_debian_photos(string photo, string[] required, string[] oneOf)
    {
        var result = detectors.Ssd.Detect(File.ReadAllBytes(TestFiles.Photo(photo)));
        var labels = result.Detections.Select(d => d.Label).ToHashSet();
        var found = string.Join(", ", result.Detections);

        Assert.All(required, label => Assert.True(labels.Contains(label), $"{photo}: no {label} among [{found}]"));
        Assert.True(oneOf.Length == 0 || oneOf.Any(labels.Contains), $"{photo}: none of {string.Join('/', oneOf)} among [{found}]");
        Assert.All(result.Detections, d =>
        {
            Assert.InRange(d.Score, 0.5, 1);
            Assert.True(d.Box.XMin < d.Box.XMax && d.Box.YMin < d.Box.YMax);
            Assert.InRange(d.PixelBox.XMax, 1, result.ImageWidth);
            Assert.InRange(d.PixelBox.YMax, 1, result.ImageHeight);
        });
    }

    [Fact]
    public void Results_carry_sorted_scores_and_consistent_timings()
    {
        var result = detectors.Ssd.Detect(File.ReadAllBytes(TestFiles.Photo("dog.jpg")));

        Assert.Equal(result.Detections.OrderByDescending(d => d.Score), result.Detections);
        var t = result.Timings;
        Assert.All(new[] { t.Decode, t.Preprocess, t.Inference, t.Postprocess }, stage => Assert.True(stage > TimeSpan.Zero));
        Assert.Equal(t.Decode + t.Preprocess + t.Inference + t.Postprocess, t.Total);
    }

    [Fact]
    public void A_higher_threshold_and_a_count_limit_are_applied()
    {
        using var strict = ObjectDetector.Create(new DetectorOptions { ModelPath = TestFiles.SsdModel, ScoreThreshold = 0.7, MaxDetections = 1, IntraOpThreads = 1 });
        var all = detectors.Ssd.Detect(File.ReadAllBytes(TestFiles.Photo("dog.jpg")));
        var limited = strict.Detect(File.ReadAllBytes(TestFiles.Photo("dog.jpg")));

        Assert.True(all.Detections.Count > 1);
        var best = Assert.Single(limited.Detections);
        Assert.Equal(all.Detections[0].Label, best.Label);
        Assert.Equal(all.Detections[0].Score, best.Score, 5);
        Assert.True(best.Score >= 0.7);
    }

    /// <summary>Each reference jet (Faster R-CNN boxes) is matched by its own detection with IoU of at least 0.5.</summary>
    internal static void AssertMatchesReferenceJets(DetectionResult result)
    {
        using var expected = JsonDocument.Parse(TestFiles.DataBytes("air-show.expected.json"));
        var jets = expected.RootElement.GetProperty("objects_detected").EnumerateArray()
            .Select(o => o.GetProperty("detection_box").EnumerateArray().Select(v => v.GetDouble()).ToArray())
            .Select(b => new DetectionBox(b[1], b[0], b[3], b[2]))
            .ToArray();
        var found = string.Join(", ", result.Detections);

        Assert.True(result.Detections.Count == 5, $"expected exactly five detections, got [{found}]");
        Assert.All(result.Detections, d => Assert.Equal("airplane", d.Label));
        var matched = new HashSet<int>();
        foreach (var jet in jets)
        {
            var best = result.Detections.Select((d, i) => (IoU: d.Box.IoU(jet), Index: i)).MaxBy(m => m.IoU);
            Assert.True(best.IoU >= 0.5, $"reference jet {jet} is matched at IoU {best.IoU:F2} only, by [{found}]");
            Assert.True(matched.Add(best.Index), $"two reference jets matched the same detection in [{found}]");
        }
    }
}
