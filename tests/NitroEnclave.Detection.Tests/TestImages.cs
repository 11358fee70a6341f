using System.Buffers.Binary;
using StbImageWriteSharp;

namespace NitroEnclave.Detection.Tests;

/// <summary>Builds encoded test images: JPEG/PNG from RGB pixels, with an EXIF orientation inserted when asked.</summary>
internal static class TestImages
{
    public static byte[] Jpeg(byte[] rgb, int width, int height, int quality = 95)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(rgb, width, height, ColorComponents.RedGreenBlue, stream, quality);
        return stream.ToArray();
    }

    public static byte[] Png(byte[] rgb, int width, int height)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(rgb, width, height, ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }

    /// <summary>Inserts an APP1 Exif segment holding only the orientation tag right after the JPEG's SOI marker.</summary>
    public static byte[] WithOrientation(byte[] jpeg, int orientation, bool bigEndian = false)
    {
        var tiff = new byte[8 + 2 + 12 + 4];
        void U16(int at, int value)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(at), (ushort)value);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(at), (ushort)value);
            }
        }

        tiff[0] = tiff[1] = bigEndian ? (byte)'M' : (byte)'I';
        U16(2, 42);
        U16(bigEndian ? 6 : 4, 8); // offset of the first IFD (a 32-bit field; the value fits its low half)
        U16(8, 1);                 // one entry
        U16(10, 0x0112);           // Orientation
        U16(12, 3);                // SHORT
        U16(14 + (bigEndian ? 2 : 0), 1); // count 1
        U16(18, orientation);
        var segment = new List<byte> { 0xFF, 0xE1 };
        var length = 2 + 6 + tiff.Length;
        segment.Add((byte)(length >> 8));
        segment.Add((byte)length);
        segment.AddRange("Exif\0\0"u8.ToArray());
        segment.AddRange(tiff);
        return [.. jpeg.AsSpan(0, 2), .. segment, .. jpeg.AsSpan(2)];
    }

    /// <summary>A width x height image whose quadrants are red, green (top right), blue (bottom left) and white.</summary>
    public static byte[] Quadrants(int width, int height)
    {
        var rgb = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                (byte R, byte G, byte B) colour = (x < width / 2, y < height / 2) switch
                {
                    (true, true) => (255, 0, 0),
                    (false, true) => (0, 255, 0),
                    (true, false) => (0, 0, 255),
                    _ => (255, 255, 255),
                };
                var offset = ((y * width) + x) * 3;
                (rgb[offset], rgb[offset + 1], rgb[offset + 2]) = colour;
            }
        }

        return rgb;
    }
}
