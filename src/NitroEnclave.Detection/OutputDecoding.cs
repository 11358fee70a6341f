namespace NitroEnclave.Detection;

/// <summary>A scored box before non-maximum suppression, normalised to the oriented image.</summary>
internal readonly record struct Candidate(int ClassIndex, float Score, float XMin, float YMin, float XMax, float YMax, int Order);

/// <summary>How a letterboxed model input relates to the image.</summary>
internal readonly record struct LetterboxedInput(int Width, int Height, Letterbox Box, int ImageWidth, int ImageHeight);

/// <summary>Turns raw model outputs into candidates, and candidates into final detections.</summary>
internal static class OutputDecoding
{
    /// <summary>SSD: boxes (ymin, xmin, ymax, xmax, normalised) and per-class probabilities for every anchor.</summary>
    public static List<Candidate> Ssd(ReadOnlySpan<float> boxes, ReadOnlySpan<float> scores, int classes, float threshold)
    {
        var candidates = new List<Candidate>();
        var anchors = scores.Length / classes;
        for (var anchor = 0; anchor < anchors; anchor++)
        {
            var row = scores.Slice(anchor * classes, classes);
            for (var c = 0; c < classes; c++)
            {
                if (row[c] >= threshold)
                {
                    var box = boxes.Slice(anchor * 4, 4);
                    candidates.Add(new Candidate(c, row[c], Clamp(box[1]), Clamp(box[0]), Clamp(box[3]), Clamp(box[2]), candidates.Count));
                }
            }
        }

        return candidates;
    }

    /// <summary>YOLOv5: rows of (cx, cy, w, h, objectness, class probabilities); score = objectness * best class.</summary>
    public static List<Candidate> YoloV5(ReadOnlySpan<float> output, int classes, float threshold, LetterboxedInput input)
    {
        var width = 5 + classes;
        var rows = output.Length / width;
        var (sx, sy) = CoordinateScale(output, rows, index => index * width, input);
        var candidates = new List<Candidate>();
        for (var r = 0; r < rows; r++)
        {
            var row = output.Slice(r * width, width);
            if (row[4] < threshold)
            {
                continue;
            }

            var (best, probability) = ArgMax(row[5..]);
            var score = row[4] * probability;
            if (score >= threshold)
            {
                candidates.Add(Unletterbox(best, score, row[0] * sx, row[1] * sy, row[2] * sx, row[3] * sy, input, candidates.Count));
            }
        }

        return candidates;
    }

    /// <summary>YOLOv8 / YOLO11: channel-major (4 + classes) x N; no objectness.</summary>
    public static List<Candidate> YoloV8(ReadOnlySpan<float> output, int classes, float threshold, LetterboxedInput input)
    {
        var count = output.Length / (4 + classes);
        var (sx, sy) = CoordinateScale(output, count, index => index, input);
        var candidates = new List<Candidate>();
        for (var n = 0; n < count; n++)
        {
            var (best, score) = (-1, float.MinValue);
            for (var c = 0; c < classes; c++)
            {
                var value = output[((4 + c) * count) + n];
                if (value > score)
                {
                    (best, score) = (c, value);
                }
            }

            if (score >= threshold)
            {
                candidates.Add(Unletterbox(best, score, output[n] * sx, output[count + n] * sy, output[(2 * count) + n] * sx, output[(3 * count) + n] * sy, input, candidates.Count));
            }
        }

        return candidates;
    }

    /// <summary>Greedy class-aware non-maximum suppression, best score first.</summary>
    public static List<Candidate> NonMaximumSuppression(List<Candidate> candidates, double iouThreshold, int maxDetections)
    {
        candidates.Sort((a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Order.CompareTo(b.Order));
        var kept = new List<Candidate>();
        foreach (var candidate in candidates)
        {
            if (kept.Count == maxDetections)
            {
                break;
            }

            if (!kept.Exists(k => k.ClassIndex == candidate.ClassIndex && IoU(k, candidate) > iouThreshold))
            {
                kept.Add(candidate);
            }
        }

        return kept;
    }

    private static double IoU(Candidate a, Candidate b) =>
        new DetectionBox(a.XMin, a.YMin, a.XMax, a.YMax).IoU(new DetectionBox(b.XMin, b.YMin, b.XMax, b.YMax));

    /// <summary>
    /// YOLO exports differ: Ultralytics' own give box coordinates in input pixels, TF.js exports in 0..1 of the input.
    /// Centres of the anchor grid span the whole input, so the largest centre tells which.
    /// </summary>
    private static (float X, float Y) CoordinateScale(ReadOnlySpan<float> output, int count, Func<int, int> centreXIndex, LetterboxedInput input)
    {
        var largest = 0f;
        for (var n = 0; n < count; n++)
        {
            largest = Math.Max(largest, output[centreXIndex(n)]);
        }

        return largest > 2 ? (1f, 1f) : (input.Width, input.Height);
    }

    private static Candidate Unletterbox(int classIndex, float score, float cx, float cy, float w, float h, LetterboxedInput input, int order)
    {
        var box = input.Box;
        float ToX(float x) => Clamp((float)((x - box.PadX) / box.Scale / input.ImageWidth));
        float ToY(float y) => Clamp((float)((y - box.PadY) / box.Scale / input.ImageHeight));
        return new Candidate(classIndex, score, ToX(cx - (w / 2)), ToY(cy - (h / 2)), ToX(cx + (w / 2)), ToY(cy + (h / 2)), order);
    }

    private static (int Index, float Value) ArgMax(ReadOnlySpan<float> values)
    {
        var (best, value) = (0, values[0]);
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > value)
            {
                (best, value) = (i, values[i]);
            }
        }

        return (best, value);
    }

    private static float Clamp(float value) => Math.Clamp(value, 0f, 1f);
}
