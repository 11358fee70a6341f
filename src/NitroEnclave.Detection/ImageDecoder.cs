using System.Buffers.Binary;
using StbImageSharp;

namespace NitroEnclave.Detection;

public enum ImageFormat
{
    Jpeg,
    Png,
}

/// <summary>What the file header says, read without decoding any pixel: format, stored size, EXIF orientation.</summary>
public readonly record struct ImageHeader(ImageFormat Format, long Width, long Height, int Orientation);

/// <summary>Decodes JPEG (baseline and progressive) and PNG images to RGB, refusing bad input with typed errors.</summary>
public static class ImageDecoder
{
    /// <summary>The default pixel limit: 50 megapixels (150 MB of RGB).</summary>
    public const long DefaultMaxPixels = 50_000_000;

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Decodes <paramref name="data"/>; the header is checked against <paramref name="maxPixels"/> before any pixel memory is allocated.</summary>
    public static DecodedImage Decode(byte[] data, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(data);
        var header = ReadHeader(data);
        if (header.Width * header.Height > maxPixels)
        {
            throw DetectionErrors.Image(DetectionErrors.ImageTooLarge, $"the image is {header.Width} x {header.Height} pixels, more than the limit of {maxPixels}");
        }

        ImageResult result;
        try
        {
            result = ImageResult.FromMemory(data, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, $"the {header.Format} data cannot be decoded: {e.Message}");
        }

        if (result.Width != header.Width || result.Height != header.Height || result.Data.Length != result.Width * result.Height * 3)
        {
            throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, "the decoded image does not match its header");
        }

        return new DecodedImage(result.Data, result.Width, result.Height, header.Orientation);
    }

    /// <summary>
    /// Decodes for a consumer that needs at least <paramref name="minimumWidth"/> x <paramref name="minimumHeight"/>
    /// pixels: a baseline JPEG at least eight times that size is decoded at 1/8 scale (block means, see
    /// <see cref="JpegDcDecoder"/>), anything else fully. Returns the image and the full oriented size of the file's image.
    /// </summary>
    public static (DecodedImage Image, int Width, int Height) DecodeAtLeast(byte[] data, int minimumWidth, int minimumHeight, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(data);
        var header = ReadHeader(data);
        var (width, height) = header.Orientation >= 5 ? (header.Height, header.Width) : (header.Width, header.Height);
        if (header.Format == ImageFormat.Jpeg && header.Width * header.Height <= maxPixels && width / 8 >= minimumWidth && height / 8 >= minimumHeight
            && JpegDcDecoder.TryDecode(data, header.Orientation) is { } scaled)
        {
            return (scaled, (int)width, (int)height);
        }

        var image = Decode(data, maxPixels);
        return (image, image.Width, image.Height);
    }

    /// <summary>
    /// An upper bound of the memory <see cref="DecodeAtLeast"/> takes for <paramref name="data"/> (managed result and
    /// the decoder's native buffers together), from the header alone, so a server can reserve it before decoding.
    /// Zero when the image is over <paramref name="maxPixels"/>: decoding refuses it before allocating. The factors
    /// are measured peak resident sizes of decodes, rounded up (docs/protocol.md, "Exhaustion and starvation").
    /// </summary>
    public static long DecodeMemoryBound(ReadOnlySpan<byte> data, int minimumWidth, int minimumHeight, long maxPixels = DefaultMaxPixels)
    {
        var header = ReadHeader(data);
        var pixels = header.Width * header.Height;
        if (pixels > maxPixels)
        {
            return 0;
        }

        if (header.Format == ImageFormat.Jpeg)
        {
            var (width, height) = header.Orientation >= 5 ? (header.Height, header.Width) : (header.Width, header.Height);
            // The 1/8 scale decode holds one coefficient per block and the small image; a full decode holds the
            // component planes, the converted image and its managed copy.
            return width / 8 >= minimumWidth && height / 8 >= minimumHeight ? (pixels / 2) + (1 << 20) : (pixels * 9) + (1 << 20);
        }

        // PNG: the inflated rows (stored bytes per pixel, 16-bit samples included), the decoder's buffer growth and
        // conversion to RGB, and the managed copy.
        var bitDepth = data[24];
        var channels = data[25] switch
        {
            0 => 1,
            2 => 3,
            4 => 2,
            6 => 4,
            _ => 1,
        };
        var storedBytesPerPixel = Math.Max(3.0, channels * bitDepth / 8.0);
        return (long)(pixels * (4 + (2 * storedBytesPerPixel))) + (1 << 20);
    }

    /// <summary>Identifies the format and reads size and orientation; checks that the data is complete.</summary>
    public static ImageHeader ReadHeader(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            throw DetectionErrors.Image(DetectionErrors.ImageEmpty, "the image has no bytes");
        }

        ImageHeader header;
        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        {
            header = ReadJpegHeader(data);
        }
        else if (data.StartsWith(PngSignature))
        {
            header = ReadPngHeader(data);
        }
        else
        {
            throw OtherFormat(data);
        }

        if (header.Width == 0 || header.Height == 0)
        {
            throw DetectionErrors.Image(DetectionErrors.ImageEmpty, $"the image is {header.Width} x {header.Height} pixels");
        }

        return header;
    }

    private static ImageHeader ReadJpegHeader(ReadOnlySpan<byte> data)
    {
        var orientation = 1;
        long width = -1, height = -1;
        var position = 2;
        while (true)
        {
            if (position >= data.Length)
            {
                throw Truncated("JPEG");
            }

            if (data[position] != 0xFF)
            {
                throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, $"JPEG marker expected at byte {position}");
            }

            while (position < data.Length && data[position] == 0xFF)
            {
                position++;
            }

            if (position >= data.Length)
            {
                throw Truncated("JPEG");
            }

            var marker = data[position++];
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue;
            }

            if (marker == 0xD9)
            {
                throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, "the JPEG ends before its image data");
            }

            if (position + 2 > data.Length)
            {
                throw Truncated("JPEG");
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(data[position..]);
            if (length < 2)
            {
                throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, $"JPEG segment at byte {position} has length {length}");
            }

            if (position + length > data.Length)
            {
                throw Truncated("JPEG");
            }

            var segment = data.Slice(position + 2, length - 2);
            if (marker == 0xE1 && segment.StartsWith("Exif\0\0"u8))
            {
                orientation = ExifOrientation(segment[6..]);
            }
            else if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                if (marker is not (0xC0 or 0xC1 or 0xC2))
                {
                    throw DetectionErrors.Image(DetectionErrors.ImageUnsupported, $"JPEG coding process SOF{marker - 0xC0} (lossless, hierarchical or arithmetic) is not supported");
                }

                if (segment.Length < 6)
                {
                    throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, "the JPEG frame header is too short");
                }

                height = BinaryPrimitives.ReadUInt16BigEndian(segment[1..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(segment[3..]);
            }
            else if (marker == 0xDA)
            {
                if (width < 0)
                {
                    throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, "the JPEG has image data but no frame header");
                }

                // Entropy-coded data follows; a complete file ends it with an EOI marker.
                if (data[(position + length)..].LastIndexOf([(byte)0xFF, (byte)0xD9]) < 0)
                {
                    throw Truncated("JPEG");
                }

                return new ImageHeader(ImageFormat.Jpeg, width, height, orientation);
            }

            position += length;
        }
    }

    private static ImageHeader ReadPngHeader(ReadOnlySpan<byte> data)
    {
        var orientation = 1;
        long width = -1, height = -1;
        var position = PngSignature.Length;
        while (true)
        {
            if (position + 8 > data.Length)
            {
                throw Truncated("PNG");
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(data[position..]);
            var type = data.Slice(position + 4, 4);
            if (length > int.MaxValue || position + 12 + (long)length > data.Length)
            {
                throw Truncated("PNG");
            }

            var chunk = data.Slice(position + 8, (int)length);
            if (width < 0)
            {
                if (!type.SequenceEqual("IHDR"u8) || chunk.Length != 13)
                {
                    throw DetectionErrors.Image(DetectionErrors.ImageCorrupt, "the PNG does not start with an image header");
                }

                width = BinaryPrimitives.ReadUInt32BigEndian(chunk);
                height = BinaryPrimitives.ReadUInt32BigEndian(chunk[4..]);
            }
            else if (type.SequenceEqual("eXIf"u8))
            {
                orientation = ExifOrientation(chunk);
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                return new ImageHeader(ImageFormat.Png, width, height, orientation);
            }

            position += 12 + (int)length;
        }
    }

    /// <summary>Tag 0x0112 of the first IFD of a TIFF structure (the EXIF payload); 1 when absent or malformed.</summary>
    internal static int ExifOrientation(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8)
        {
            return 1;
        }

        bool little;
        if (tiff.StartsWith("II"u8))
        {
            little = true;
        }
        else if (tiff.StartsWith("MM"u8))
        {
            little = false;
        }
        else
        {
            return 1;
        }

        if (U16(tiff, 2, little) != 42)
        {
            return 1;
        }

        var directory = little ? BinaryPrimitives.ReadUInt32LittleEndian(tiff[4..]) : BinaryPrimitives.ReadUInt32BigEndian(tiff[4..]);
        if (directory > (uint)(tiff.Length - 2))
        {
            return 1;
        }

        var count = U16(tiff, (int)directory, little);
        for (var i = 0; i < count; i++)
        {
            var entry = (int)directory + 2 + (12 * i);
            if (entry + 12 > tiff.Length)
            {
                break;
            }

            // Orientation is one SHORT, stored in the first two bytes of the value field.
            if (U16(tiff, entry, little) == 0x0112 && U16(tiff, entry + 2, little) == 3)
            {
                var value = U16(tiff, entry + 8, little);
                return value is >= 1 and <= 8 ? value : 1;
            }
        }

        return 1;
    }

    private static ushort U16(ReadOnlySpan<byte> data, int at, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(data[at..]) : BinaryPrimitives.ReadUInt16BigEndian(data[at..]);

    private static NitroEnclaveException Truncated(string format) =>
        DetectionErrors.Image(DetectionErrors.ImageTruncated, $"the {format} image ends before its data does");

    private static NitroEnclaveException OtherFormat(ReadOnlySpan<byte> data)
    {
        string? name = null;
        if (data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8))
        {
            name = "GIF";
        }
        else if (data.StartsWith("BM"u8) && data.Length >= 26)
        {
            name = "BMP";
        }
        else if (data.Length >= 12 && data.StartsWith("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            name = "WebP";
        }
        else if (data.StartsWith("II*\0"u8) || data.StartsWith("MM\0*"u8))
        {
            name = "TIFF";
        }
        else if (data.Length >= 12 && data.Slice(4, 4).SequenceEqual("ftyp"u8))
        {
            name = "HEIF/AVIF";
        }

        return name is null
            ? DetectionErrors.Image(DetectionErrors.ImageUnrecognized, "the data is not a JPEG or PNG image")
            : DetectionErrors.Image(DetectionErrors.ImageUnsupported, $"{name} images are not supported; use JPEG or PNG");
    }
}
