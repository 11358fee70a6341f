namespace NitroEnclave.Detection;

/// <summary>
/// A decoded RGB image. Pixels stay as stored in the file; the EXIF orientation is applied when they are read, so an
/// oriented 13-megapixel photo is never copied just to rotate it. Every coordinate in the API is in the oriented
/// (displayed) image.
/// </summary>
public sealed class DecodedImage
{
    internal DecodedImage(byte[] pixels, int storedWidth, int storedHeight, int orientation, int scale = 1)
    {
        Pixels = pixels;
        StoredWidth = storedWidth;
        StoredHeight = storedHeight;
        Orientation = orientation;
        Scale = scale;
    }

    /// <summary>1 for a full decode; 8 when each pixel is the mean of an 8 x 8 block of the file's image.</summary>
    public int Scale { get; }

    /// <summary>EXIF orientation, 1..8 (1 when the file has none).</summary>
    public int Orientation { get; }

    public int Width => Transposed ? StoredHeight : StoredWidth;

    public int Height => Transposed ? StoredWidth : StoredHeight;

    internal byte[] Pixels { get; }

    internal int StoredWidth { get; }

    internal int StoredHeight { get; }

    /// <summary>Orientations 5 to 8 swap the axes.</summary>
    private bool Transposed => Orientation >= 5;

    /// <summary>The pixel at (x, y) of the oriented image.</summary>
    public (byte R, byte G, byte B) GetPixel(int x, int y)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
        {
            throw new ArgumentOutOfRangeException(nameof(x), "the pixel is outside the image");
        }

        var offset = ColumnOffset(x) + RowOffset(y);
        return (Pixels[offset], Pixels[offset + 1], Pixels[offset + 2]);
    }

    /// <summary>
    /// Byte offset contributed by oriented column <paramref name="x"/>. Every orientation maps oriented x to one stored
    /// axis and oriented y to the other, so a pixel's offset is ColumnOffset(x) + RowOffset(y).
    /// </summary>
    internal int ColumnOffset(int x)
    {
        var stride = StoredWidth * 3;
        return Orientation switch
        {
            2 or 3 => (StoredWidth - 1 - x) * 3,
            5 or 8 => x * stride,
            6 or 7 => (StoredHeight - 1 - x) * stride,
            _ => x * 3,
        };
    }

    internal int RowOffset(int y)
    {
        var stride = StoredWidth * 3;
        return Orientation switch
        {
            3 or 4 => (StoredHeight - 1 - y) * stride,
            5 or 6 => y * 3,
            7 or 8 => (StoredWidth - 1 - y) * 3,
            _ => y * stride,
        };
    }
}
