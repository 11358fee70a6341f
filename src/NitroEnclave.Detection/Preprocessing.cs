namespace NitroEnclave.Detection;

/// <summary>Where the image landed inside a letterboxed model input.</summary>
internal readonly record struct Letterbox(double Scale, int PadX, int PadY);

/// <summary>Resizes an oriented image into a planar RGB (NCHW) float tensor the way each model family was trained.</summary>
internal static class Preprocessing
{
    /// <summary>
    /// SSD: stretch to the input size with TensorFlow's ResizeBilinear as the graph used it (align_corners and
    /// half_pixel_centers false: source = destination * scale), RGB 0..255.
    /// </summary>
    public static void Stretch(DecodedImage image, float[] tensor, int width, int height) =>
        Resample(image, tensor, width, height, new Letterbox(0, 0, 0), width, height, halfPixel: false, valueScale: 1f);

    /// <summary>YOLO: keep the aspect ratio, scale to fit, pad with grey 114 (Ultralytics' letterbox), RGB 0..1.</summary>
    public static Letterbox Letterbox(DecodedImage image, float[] tensor, int width, int height)
    {
        var scale = Math.Min((double)width / image.Width, (double)height / image.Height);
        var scaledWidth = Math.Max(1, (int)Math.Round(image.Width * scale));
        var scaledHeight = Math.Max(1, (int)Math.Round(image.Height * scale));
        var box = new Letterbox(scale, (int)Math.Round(((width - scaledWidth) / 2.0) - 0.1), (int)Math.Round(((height - scaledHeight) / 2.0) - 0.1));
        Array.Fill(tensor, 114f / 255f);
        Resample(image, tensor, width, height, box, scaledWidth, scaledHeight, halfPixel: true, valueScale: 1f / 255f);
        return box;
    }

    /// <summary>Bilinear resampling of the whole image into a <paramref name="targetWidth"/> x <paramref name="targetHeight"/> area at (PadX, PadY).</summary>
    private static void Resample(DecodedImage image, float[] tensor, int tensorWidth, int tensorHeight, Letterbox at, int targetWidth, int targetHeight, bool halfPixel, float valueScale)
    {
        var (column0, column1, columnWeight) = Taps(image.Width, targetWidth, halfPixel, image.ColumnOffset);
        var (row0, row1, rowWeight) = Taps(image.Height, targetHeight, halfPixel, image.RowOffset);
        var pixels = image.Pixels;
        var plane = tensorWidth * tensorHeight;
        for (var y = 0; y < targetHeight; y++)
        {
            var (top, bottom, fy) = (row0[y], row1[y], rowWeight[y]);
            var output = ((at.PadY + y) * tensorWidth) + at.PadX;
            for (var x = 0; x < targetWidth; x++)
            {
                var fx = columnWeight[x];
                var topLeft = top + column0[x];
                var topRight = top + column1[x];
                var bottomLeft = bottom + column0[x];
                var bottomRight = bottom + column1[x];
                for (var channel = 0; channel < 3; channel++)
                {
                    float tl = pixels[topLeft + channel], tr = pixels[topRight + channel];
                    float bl = pixels[bottomLeft + channel], br = pixels[bottomRight + channel];
                    var upper = tl + ((tr - tl) * fx);
                    var lower = bl + ((br - bl) * fx);
                    tensor[(channel * plane) + output + x] = (upper + ((lower - upper) * fy)) * valueScale;
                }
            }
        }
    }

    /// <summary>For each output index: the two source byte offsets and the weight of the second.</summary>
    private static (int[] First, int[] Second, float[] Weight) Taps(int sourceSize, int targetSize, bool halfPixel, Func<int, int> offset)
    {
        var first = new int[targetSize];
        var second = new int[targetSize];
        var weight = new float[targetSize];
        var scale = (float)sourceSize / targetSize;
        for (var i = 0; i < targetSize; i++)
        {
            var source = halfPixel ? Math.Max(0f, ((i + 0.5f) * scale) - 0.5f) : i * scale;
            var lower = Math.Min((int)source, sourceSize - 1);
            first[i] = offset(lower);
            second[i] = offset(Math.Min(lower + 1, sourceSize - 1));
            weight[i] = source - lower;
        }

        return (first, second, weight);
    }
}
