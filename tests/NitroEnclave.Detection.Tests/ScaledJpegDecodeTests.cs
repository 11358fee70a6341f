namespace NitroEnclave.Detection.Tests;

/// <summary>The 1/8-scale JPEG path against the full decoder: each pixel must be its 8 x 8 block's mean.</summary>
public sealed class ScaledJpegDecodeTests
{
    [Fact]
    public void A_progressive_photo_decodes_to_its_block_means()
    {
        var airShow = TestFiles.DataBytes("air-show.jpg");
        var (scaled, width, height) = ImageDecoder.DecodeAtLeast(airShow, 300, 300);

        Assert.Equal(8, scaled.Scale);
        Assert.Equal((3994, 3235), (width, height));
        Assert.Equal((500, 405), (scaled.Width, scaled.Height));
        AssertBlockMeans(ImageDecoder.Decode(airShow), scaled);
    }

    [Fact]
    public void A_baseline_jpeg_with_subsampled_chroma_decodes_to_its_block_means()
    {
        var full = ImageDecoder.Decode(TestFiles.DataBytes("air-show.jpg"));
        var (width, height) = (800, 640);
        var rgb = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var offset = ((y * width) + x) * 3;
                (rgb[offset], rgb[offset + 1], rgb[offset + 2]) = full.GetPixel(x * 4, y * 4);
            }
        }

        var jpeg = TestImages.Jpeg(rgb, width, height, quality: 90);
        var (scaled, _, _) = ImageDecoder.DecodeAtLeast(jpeg, 100, 80);

        Assert.Equal((8, 100, 80), (scaled.Scale, scaled.Width, scaled.Height));
        AssertBlockMeans(ImageDecoder.Decode(jpeg), scaled);
    }

    [Fact]
    public void Small_images_and_pngs_are_decoded_in_full()
    {
        var jpeg = TestImages.Jpeg(TestImages.Quadrants(64, 48), 64, 48);
        Assert.Equal(1, ImageDecoder.DecodeAtLeast(jpeg, 300, 300).Image.Scale);
        var png = TestImages.Png(TestImages.Quadrants(64, 48), 64, 48);
        Assert.Equal(1, ImageDecoder.DecodeAtLeast(png, 2, 2).Image.Scale);
    }

    private static void AssertBlockMeans(DecodedImage full, DecodedImage scaled)
    {
        double totalDifference = 0;
        var samples = 0;
        for (var by = 0; by < full.Height / 8; by += 7)
        {
            for (var bx = 0; bx < full.Width / 8; bx += 7)
            {
                var sum = new double[3];
                for (var y = 0; y < 8; y++)
                {
                    for (var x = 0; x < 8; x++)
                    {
                        var (r, g, b) = full.GetPixel((bx * 8) + x, (by * 8) + y);
                        (sum[0], sum[1], sum[2]) = (sum[0] + r, sum[1] + g, sum[2] + b);
                    }
                }

                var actual = scaled.GetPixel(bx, by);
                totalDifference += Math.Abs((sum[0] / 64) - actual.R) + Math.Abs((sum[1] / 64) - actual.G) + Math.Abs((sum[2] / 64) - actual.B);
                samples += 3;
            }
        }

        var mean = totalDifference / samples;
        Assert.True(mean < 3, $"scaled pixels differ from the block means by {mean:F2} levels on average");
    }
}
