using StbImageWriteSharp;

namespace NitroEnclave.Detection.Annotation;

/// <summary>An upright RGB image being annotated: every drawing call clips to the image, so nothing can write outside it.</summary>
public sealed class AnnotatedImage
{
    private readonly byte[] _pixels;

    private AnnotatedImage(byte[] pixels, int width, int height)
    {
        _pixels = pixels;
        Width = width;
        Height = height;
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Copies <paramref name="image"/> with its EXIF orientation applied, so pixel (x, y) is where a viewer shows it.</summary>
    internal static AnnotatedImage FromDecoded(DecodedImage image)
    {
        if (image.Scale != 1)
        {
            throw new ArgumentException("a reduced-scale decode cannot be annotated", nameof(image));
        }

        var width = image.Width;
        var height = image.Height;
        var pixels = new byte[width * height * 3];
        var source = image.Pixels;
        var target = 0;
        for (var y = 0; y < height; y++)
        {
            var row = image.RowOffset(y);
            for (var x = 0; x < width; x++)
            {
                var offset = row + image.ColumnOffset(x);
                pixels[target++] = source[offset];
                pixels[target++] = source[offset + 1];
                pixels[target++] = source[offset + 2];
            }
        }

        return new AnnotatedImage(pixels, width, height);
    }

    public (byte R, byte G, byte B) GetPixel(int x, int y)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
        {
            throw new ArgumentOutOfRangeException(nameof(x), "the pixel is outside the image");
        }

        var offset = ((y * Width) + x) * 3;
        return (_pixels[offset], _pixels[offset + 1], _pixels[offset + 2]);
    }

    /// <summary>Encodes as PNG, or as baseline JPEG at <paramref name="jpegQuality"/> (1..100).</summary>
    public byte[] Encode(ImageFormat format, int jpegQuality = DetectionAnnotator.DefaultJpegQuality)
    {
        if (jpegQuality is < 1 or > 100)
        {
            throw new NitroEnclaveException(AnnotationErrors.OptionInvalid, ErrorKind.InvalidArgument, $"the JPEG quality must be 1..100, not {jpegQuality}");
        }

        using var stream = new MemoryStream();
        var writer = new ImageWriter();
        if (format == ImageFormat.Png)
        {
            writer.WritePng(_pixels, Width, Height, ColorComponents.RedGreenBlue, stream);
        }
        else
        {
            writer.WriteJpg(_pixels, Width, Height, ColorComponents.RedGreenBlue, stream, jpegQuality);
        }

        return stream.ToArray();
    }

    /// <summary>Fills the rectangle [left, right) x [top, bottom), clipped to the image.</summary>
    internal void Fill(long left, long top, long right, long bottom, (byte R, byte G, byte B) colour)
    {
        var x0 = (int)Math.Clamp(left, 0, Width);
        var x1 = (int)Math.Clamp(right, 0, Width);
        var y0 = (int)Math.Clamp(top, 0, Height);
        var y1 = (int)Math.Clamp(bottom, 0, Height);
        for (var y = y0; y < y1; y++)
        {
            var offset = ((y * Width) + x0) * 3;
            for (var x = x0; x < x1; x++)
            {
                _pixels[offset++] = colour.R;
                _pixels[offset++] = colour.G;
                _pixels[offset++] = colour.B;
            }
        }
    }

    /// <summary>The outline of [left, right) x [top, bottom), <paramref name="thickness"/> pixels wide, drawn inward from the edges.</summary>
    internal void Outline(long left, long top, long right, long bottom, int thickness, (byte R, byte G, byte B) colour)
    {
        Fill(left, top, right, Math.Min(bottom, top + thickness), colour);
        Fill(left, Math.Max(top, bottom - thickness), right, bottom, colour);
        Fill(left, top, Math.Min(right, left + thickness), bottom, colour);
        Fill(Math.Max(left, right - thickness), top, right, bottom, colour);
    }

    /// <summary>Draws <paramref name="text"/> with its top-left corner at (x, y), each font pixel a <paramref name="scale"/>-pixel square.</summary>
    internal void Text(long x, long y, string text, int scale, (byte R, byte G, byte B) colour)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var glyphLeft = x + ((long)i * BitmapFont.Advance * scale);
            for (var row = 0; row < BitmapFont.GlyphHeight; row++)
            {
                for (var column = 0; column < BitmapFont.GlyphWidth; column++)
                {
                    if (BitmapFont.IsInked(text[i], column, row))
                    {
                        var px = glyphLeft + ((long)column * scale);
                        var py = y + ((long)row * scale);
                        Fill(px, py, px + scale, py + scale, colour);
                    }
                }
            }
        }
    }
}
