using System.Buffers.Binary;

namespace NitroEnclave.Detection.Tests;

public sealed class ImageDecoderTests
{
    private static readonly (byte, byte, byte) Red = (255, 0, 0), Green = (0, 255, 0), Blue = (0, 0, 255), White = (255, 255, 255);

    [Fact]
    public void Decodes_jpeg_and_png_to_rgb_of_the_header_size()
    {
        var rgb = TestImages.Quadrants(40, 20);
        foreach (var encoded in new[] { TestImages.Png(rgb, 40, 20), TestImages.Jpeg(rgb, 40, 20) })
        {
            var image = ImageDecoder.Decode(encoded);
            Assert.Equal((40, 20, 1), (image.Width, image.Height, image.Orientation));
            AssertNear(Red, image.GetPixel(5, 5));
            AssertNear(White, image.GetPixel(35, 15));
        }
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, false)]
    [InlineData(5, true)]
    [InlineData(6, false)]
    [InlineData(6, true)]
    [InlineData(7, false)]
    [InlineData(8, true)]
    public void Exif_orientation_is_honoured(int orientation, bool bigEndian)
    {
        // Stored quadrants: red, green / blue, white. Expected corners of the displayed image, per the EXIF definition
        // of each orientation (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 90 CCW).
        var corners = orientation switch
        {
            1 => new[] { Red, Green, Blue, White },
            2 => [Green, Red, White, Blue],
            3 => [White, Blue, Green, Red],
            4 => [Blue, White, Red, Green],
            5 => [Red, Blue, Green, White],
            6 => [Blue, Red, White, Green],
            7 => [White, Green, Blue, Red],
            _ => [Green, White, Red, Blue],
        };
        var jpeg = TestImages.WithOrientation(TestImages.Jpeg(TestImages.Quadrants(40, 20), 40, 20), orientation, bigEndian);

        var image = ImageDecoder.Decode(jpeg);

        Assert.Equal(orientation, image.Orientation);
        Assert.Equal(orientation >= 5 ? (20, 40) : (40, 20), (image.Width, image.Height));
        var (w, h) = (image.Width, image.Height);
        AssertNear(corners[0], image.GetPixel(2, 2));
        AssertNear(corners[1], image.GetPixel(w - 3, 2));
        AssertNear(corners[2], image.GetPixel(2, h - 3));
        AssertNear(corners[3], image.GetPixel(w - 3, h - 3));
    }

    [Fact]
    public void No_bytes_is_an_empty_image()
    {
        AssertError(DetectionErrors.ImageEmpty, []);
    }

    [Fact]
    public void Zero_width_or_height_is_an_empty_image()
    {
        var png = TestImages.Png(TestImages.Quadrants(4, 4), 4, 4);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 0); // IHDR width
        AssertError(DetectionErrors.ImageEmpty, png);

        var jpeg = TestImages.Jpeg(TestImages.Quadrants(8, 8), 8, 8);
        var frame = FindMarker(jpeg, 0xC0);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(frame + 4), 0); // SOF0 height (after length and precision)
        AssertError(DetectionErrors.ImageEmpty, jpeg);
    }

    [Fact]
    public void Text_is_not_an_image()
    {
        AssertError(DetectionErrors.ImageUnrecognized, "this is not an image, just some text"u8.ToArray());
    }

    [Fact]
    public void Other_image_formats_are_unsupported()
    {
        AssertError(DetectionErrors.ImageUnsupported, [.. "GIF89a"u8, 1, 0, 1, 0, 0, 0, 0, 0x3B]);
        AssertError(DetectionErrors.ImageUnsupported, [.. "BM"u8, .. new byte[60]]);
        AssertError(DetectionErrors.ImageUnsupported, [.. "RIFF"u8, 0, 0, 0, 0, .. "WEBPVP8 "u8, .. new byte[20]]);

        // A lossless JPEG (SOF3) is recognised from its frame header and refused.
        var jpeg = TestImages.Jpeg(TestImages.Quadrants(8, 8), 8, 8);
        jpeg[FindMarker(jpeg, 0xC0)] = 0xC3;
        AssertError(DetectionErrors.ImageUnsupported, jpeg);
    }

    [Fact]
    public void A_cut_off_jpeg_or_png_is_truncated()
    {
        var airShow = TestFiles.DataBytes("air-show.jpg");
        AssertError(DetectionErrors.ImageTruncated, airShow[..(airShow.Length * 6 / 10)]);
        AssertError(DetectionErrors.ImageTruncated, airShow[..100]);

        var png = TestImages.Png(TestImages.Quadrants(64, 64), 64, 64);
        AssertError(DetectionErrors.ImageTruncated, png[..(png.Length - 20)]);
        AssertError(DetectionErrors.ImageTruncated, png[..20]);
    }

    [Fact]
    public void Broken_structure_or_data_is_corrupt()
    {
        var png = TestImages.Png(TestImages.Quadrants(64, 64), 64, 64);
        "IHDX"u8.CopyTo(png.AsSpan(12));
        AssertError(DetectionErrors.ImageCorrupt, png);

        // Complete PNG whose compressed pixel data is garbage.
        var damaged = TestImages.Png(TestImages.Quadrants(64, 64), 64, 64);
        var data = FindChunk(damaged, "IDAT"u8);
        Array.Fill(damaged, (byte)0xA5, data + 2, 16);
        AssertError(DetectionErrors.ImageCorrupt, damaged);
    }

    [Fact]
    public void An_enormous_image_is_refused_from_its_header_before_allocating()
    {
        var png = TestImages.Png(TestImages.Quadrants(4, 4), 4, 4);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 200_000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 200_000);
        var before = GC.GetAllocatedBytesForCurrentThread();

        AssertError(DetectionErrors.ImageTooLarge, png);

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the decoder allocated pixel memory for a refused image");
    }

    [Fact]
    public void The_pixel_limit_is_configurable()
    {
        var airShow = TestFiles.DataBytes("air-show.jpg");
        var error = Assert.Throws<NitroEnclaveException>(() => ImageDecoder.Decode(airShow, maxPixels: 12_000_000));
        Assert.Equal(DetectionErrors.ImageTooLarge, error.ErrorId);
        Assert.Contains("3994 x 3235", error.Message, StringComparison.Ordinal);
        Assert.Equal((3994, 3235), (ImageDecoder.Decode(airShow, maxPixels: 13_000_000).Width, 3235));
    }

    [Fact]
    public void Header_reports_size_and_orientation_without_decoding()
    {
        var header = ImageDecoder.ReadHeader(TestImages.WithOrientation(TestImages.Jpeg(TestImages.Quadrants(40, 20), 40, 20), 6));
        Assert.Equal(new ImageHeader(ImageFormat.Jpeg, 40, 20, 6), header);
    }

    private static void AssertError(string errorId, byte[] data)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => ImageDecoder.Decode(data));
        Assert.Equal(errorId, error.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, error.Kind);
    }

    [Fact]
    public void The_decode_memory_bound_follows_the_header_and_covers_what_a_decode_allocates()
    {
        var rgb = TestImages.Quadrants(640, 480);
        var png = TestImages.Png(rgb, 640, 480);
        var jpeg = TestImages.Jpeg(rgb, 640, 480);

        var before = GC.GetAllocatedBytesForCurrentThread();
        ImageDecoder.Decode(png);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(allocated, 1, ImageDecoder.DecodeMemoryBound(png, 300, 300));

        // The bound is read from the header alone: 16-bit samples cost more than 8-bit ones.
        var wide = (byte[])png.Clone();
        wide[FindChunk(wide, "IHDR"u8) + 8] = 16;
        Assert.True(ImageDecoder.DecodeMemoryBound(wide, 300, 300) > ImageDecoder.DecodeMemoryBound(png, 300, 300));

        // A JPEG eight times the model's input is decoded at 1/8 scale, for a fraction of the memory of a full decode.
        Assert.True(ImageDecoder.DecodeMemoryBound(jpeg, 80, 60) < ImageDecoder.DecodeMemoryBound(jpeg, 300, 300) / 2);

        // Over the pixel limit: nothing to reserve, decoding refuses it from the header.
        Assert.Equal(0, ImageDecoder.DecodeMemoryBound(png, 300, 300, maxPixels: 1000));
    }

    private static void AssertNear((byte R, byte G, byte B) expected, (byte R, byte G, byte B) actual)
    {
        Assert.True(
            Math.Abs(expected.R - actual.R) < 40 && Math.Abs(expected.G - actual.G) < 40 && Math.Abs(expected.B - actual.B) < 40,
            $"expected about {expected}, got {actual}");
    }

    /// <summary>Index of the marker byte (after its 0xFF) of the first <paramref name="marker"/>; the segment length follows.</summary>
    private static int FindMarker(byte[] jpeg, byte marker)
    {
        for (var i = 2; i + 1 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] == marker)
            {
                return i + 1;
            }
        }

        throw new InvalidOperationException("marker not found");
    }

    /// <summary>Offset of the data of the first chunk of the given type.</summary>
    private static int FindChunk(byte[] png, ReadOnlySpan<byte> type) => png.AsSpan().IndexOf(type) + 4;
}
