namespace NitroEnclave.Detection;

/// <summary>
/// Decodes a JPEG at 1/8 scale: each 8 x 8 block becomes one pixel, its DC coefficient (the block's mean), so no
/// inverse DCT, upsampling or per-pixel colour conversion of the full image is done. Baseline files still need their
/// AC coefficients Huffman-decoded (and dropped); progressive files carry the DC coefficients in scans of their own,
/// and the AC scans are skipped unread. For a large photo feeding a 300 x 300 model this is an area-averaged
/// downscale at a fraction of the cost of a full decode.
/// Returns null for anything it does not handle (12-bit, arithmetic coding, odd structure), so the caller falls back
/// to the full decoder, which also reports errors.
/// </summary>
internal static class JpegDcDecoder
{
    public static DecodedImage? TryDecode(byte[] data, int orientation)
    {
        try
        {
            return Decode(data, orientation);
        }
        catch (InvalidDataException)
        {
            return null;
        }
        catch (IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static DecodedImage? Decode(byte[] data, int orientation)
    {
        var quantization = new int[4][];
        var dcTables = new HuffmanTable?[4];
        var acTables = new HuffmanTable?[4];
        Component[]? components = null;
        int width = 0, height = 0, restartInterval = 0, maxH = 1, maxV = 1;
        var progressive = false;
        var position = 2;
        while (position + 4 <= data.Length)
        {
            if (data[position] != 0xFF)
            {
                return null;
            }

            var marker = data[position + 1];
            if (marker == 0xFF)
            {
                position++;
                continue;
            }

            if (marker == 0xD9)
            {
                break;
            }

            var length = (data[position + 2] << 8) | data[position + 3];
            var segment = position + 4;
            var end = position + 2 + length;
            switch (marker)
            {
                case 0xDB:
                    for (var p = segment; p < end;)
                    {
                        var precision = data[p] >> 4;
                        var table = new int[64];
                        for (var i = 0; i < 64; i++)
                        {
                            table[i] = precision == 0 ? data[p + 1 + i] : (data[p + 1 + (2 * i)] << 8) | data[p + 2 + (2 * i)];
                        }

                        quantization[data[p] & 3] = table;
                        p += 1 + (precision == 0 ? 64 : 128);
                    }

                    break;
                case 0xC4:
                    for (var p = segment; p < end;)
                    {
                        var counts = data.AsSpan(p + 1, 16);
                        var total = 0;
                        foreach (var count in counts)
                        {
                            total += count;
                        }

                        var table = new HuffmanTable(counts, data.AsSpan(p + 17, total));
                        if (data[p] >> 4 == 0)
                        {
                            dcTables[data[p] & 3] = table;
                        }
                        else
                        {
                            acTables[data[p] & 3] = table;
                        }

                        p += 17 + total;
                    }

                    break;
                case 0xC0 or 0xC1 or 0xC2:
                    if (data[segment] != 8 || components is not null)
                    {
                        return null;
                    }

                    progressive = marker == 0xC2;
                    height = (data[segment + 1] << 8) | data[segment + 2];
                    width = (data[segment + 3] << 8) | data[segment + 4];
                    components = new Component[data[segment + 5]];
                    for (var i = 0; i < components.Length; i++)
                    {
                        var at = segment + 6 + (3 * i);
                        components[i] = new Component(data[at], data[at + 1] >> 4, data[at + 1] & 15, data[at + 2] & 3);
                    }

                    if (components.Length is not (1 or 3) || components.Any(c => c.H is < 1 or > 4 || c.V is < 1 or > 4))
                    {
                        return null;
                    }

                    maxH = components.Max(c => c.H);
                    maxV = components.Max(c => c.V);
                    var mcusX = (width + (8 * maxH) - 1) / (8 * maxH);
                    var mcusY = (height + (8 * maxV) - 1) / (8 * maxV);
                    foreach (var c in components)
                    {
                        c.BlocksPerLine = mcusX * c.H;
                        c.Coefficients = new int[mcusX * c.H * mcusY * c.V];
                        c.ScanBlocksX = ((((width * c.H) + maxH - 1) / maxH) + 7) / 8;
                        c.ScanBlocksY = ((((height * c.V) + maxV - 1) / maxV) + 7) / 8;
                    }

                    break;
                case >= 0xC3 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC:
                    return null;
                case 0xDD:
                    restartInterval = (data[segment] << 8) | data[segment + 1];
                    break;
                case 0xDA:
                    if (components is null)
                    {
                        return null;
                    }

                    var scan = new Component[data[segment]];
                    for (var i = 0; i < scan.Length; i++)
                    {
                        var id = data[segment + 1 + (2 * i)];
                        var tables = data[segment + 2 + (2 * i)];
                        var component = Array.Find(components, c => c.Id == id);
                        if (component is null)
                        {
                            return null;
                        }

                        component.Dc = dcTables[tables >> 4];
                        component.Ac = acTables[tables & 3];
                        scan[i] = component;
                    }

                    var spectral = segment + 1 + (2 * scan.Length);
                    var (spectralStart, approximation) = (data[spectral], data[spectral + 2]);
                    if (!progressive && scan.Length != components.Length)
                    {
                        return null;
                    }

                    // Progressive AC scans only refine detail the block means do not need: skipped unread.
                    if (!progressive || spectralStart == 0)
                    {
                        DecodeDcScan(data, end, scan, restartInterval, maxH, maxV, progressive, approximation >> 4, approximation & 15);
                    }

                    position = NextMarker(data, end);
                    continue;
            }

            position = end;
        }

        if (components is null || components.Any(c => quantization[c.QuantizationTable] is null))
        {
            return null;
        }

        return ToRgb(components, quantization, width, height, maxH, maxV, orientation);
    }

    /// <summary>Position of the first marker after entropy-coded data (not a stuffed byte, not a restart marker).</summary>
    private static int NextMarker(byte[] data, int position)
    {
        while (position + 1 < data.Length)
        {
            var index = data.AsSpan(position, data.Length - position - 1).IndexOf((byte)0xFF);
            if (index < 0)
            {
                break;
            }

            position += index;
            var next = data[position + 1];
            if (next != 0x00 && next is not (>= 0xD0 and <= 0xD7) && next != 0xFF)
            {
                return position;
            }

            position += next == 0xFF ? 1 : 2;
        }

        return data.Length;
    }

    /// <summary>
    /// Decodes the DC coefficients of one scan: a baseline scan (AC data decoded and dropped), a progressive DC first
    /// scan (<paramref name="successiveHigh"/> 0) or a progressive DC refinement scan (one more bit per block).
    /// </summary>
    private static void DecodeDcScan(byte[] data, int start, Component[] scan, int restartInterval, int maxH, int maxV, bool progressive, int successiveHigh, int successiveLow)
    {
        if (scan.Any(c => (successiveHigh == 0 && c.Dc is null) || (!progressive && c.Ac is null)))
        {
            throw new InvalidDataException("missing Huffman table");
        }

        var reader = new BitReader(data, start);
        foreach (var c in scan)
        {
            c.Prediction = 0;
        }

        var restartsLeft = restartInterval;
        void Block(ref BitReader reader, Component c, int index)
        {
            if (restartInterval > 0)
            {
                if (restartsLeft == 0)
                {
                    reader.Restart();
                    foreach (var other in scan)
                    {
                        other.Prediction = 0;
                    }

                    restartsLeft = restartInterval;
                }
            }

            if (successiveHigh != 0)
            {
                c.Coefficients![index] |= reader.Bits(1) << successiveLow;
                return;
            }

            c.Prediction += progressive ? DecodeDc(ref reader, c.Dc!) : DecodeBlockDc(ref reader, c.Dc!, c.Ac!);
            c.Coefficients![index] = c.Prediction << successiveLow;
        }

        if (scan.Length == 1)
        {
            // A single-component scan is not interleaved: the component's own blocks in raster order.
            var c = scan[0];
            for (var y = 0; y < c.ScanBlocksY; y++)
            {
                for (var x = 0; x < c.ScanBlocksX; x++)
                {
                    Block(ref reader, c, (y * c.BlocksPerLine) + x);
                    restartsLeft--;
                }
            }

            return;
        }

        var mcusX = scan[0].BlocksPerLine / scan[0].H;
        var mcusY = scan[0].Coefficients!.Length / scan[0].BlocksPerLine / scan[0].V;
        for (var mcuY = 0; mcuY < mcusY; mcuY++)
        {
            for (var mcuX = 0; mcuX < mcusX; mcuX++)
            {
                foreach (var c in scan)
                {
                    for (var v = 0; v < c.V; v++)
                    {
                        for (var h = 0; h < c.H; h++)
                        {
                            Block(ref reader, c, (((mcuY * c.V) + v) * c.BlocksPerLine) + (mcuX * c.H) + h);
                        }
                    }
                }

                restartsLeft--;
            }
        }
    }

    private static int DecodeDc(ref BitReader reader, HuffmanTable dc)
    {
        var size = dc.Decode(ref reader);
        return size == 0 ? 0 : Extend(reader.Bits(size), size);
    }

    /// <summary>Decodes one block's coefficients and returns its DC difference; the AC values are skipped.</summary>
    private static int DecodeBlockDc(ref BitReader reader, HuffmanTable dc, HuffmanTable ac)
    {
        var difference = DecodeDc(ref reader, dc);
        for (var k = 1; k < 64;)
        {
            var symbol = ac.Decode(ref reader);
            var run = symbol >> 4;
            var bits = symbol & 15;
            if (bits == 0)
            {
                if (run != 15)
                {
                    break;
                }

                k += 16;
                continue;
            }

            reader.Skip(bits);
            k += run + 1;
        }

        return difference;
    }

    private static int Extend(int value, int size) => value < (1 << (size - 1)) ? value - (1 << size) + 1 : value;

    private static DecodedImage ToRgb(Component[] components, int[][] quantization, int width, int height, int maxH, int maxV, int orientation)
    {
        // The inverse DCT's DC term: every pixel of a block is DC * q0 / 8 + 128.
        foreach (var c in components)
        {
            var q = quantization[c.QuantizationTable][0] / 8f;
            c.Means = c.Coefficients!.Select(dc => (dc * q) + 128f).ToArray();
        }

        var scaledWidth = (width + 7) / 8;
        var scaledHeight = (height + 7) / 8;
        var pixels = new byte[scaledWidth * scaledHeight * 3];
        for (var y = 0; y < scaledHeight; y++)
        {
            for (var x = 0; x < scaledWidth; x++)
            {
                var offset = ((y * scaledWidth) + x) * 3;
                var luma = Sample(components[0], x, y, maxH, maxV);
                if (components.Length == 1)
                {
                    pixels[offset] = pixels[offset + 1] = pixels[offset + 2] = ToByte(luma);
                    continue;
                }

                var cb = Sample(components[1], x, y, maxH, maxV) - 128f;
                var cr = Sample(components[2], x, y, maxH, maxV) - 128f;

                // JFIF YCbCr to RGB.
                pixels[offset] = ToByte(luma + (1.402f * cr));
                pixels[offset + 1] = ToByte(luma - (0.344136f * cb) - (0.714136f * cr));
                pixels[offset + 2] = ToByte(luma + (1.772f * cb));
            }
        }

        return new DecodedImage(pixels, scaledWidth, scaledHeight, orientation, scale: 8);
    }

    private static float Sample(Component c, int x, int y, int maxH, int maxV) =>
        c.Means![(y * c.V / maxV * c.BlocksPerLine) + (x * c.H / maxH)];

    private static byte ToByte(float value) => (byte)Math.Clamp((int)(value + 0.5f), 0, 255);

    private sealed class Component(int id, int h, int v, int quantizationTable)
    {
        public int Id { get; } = id;

        public int H { get; } = h;

        public int V { get; } = v;

        public int QuantizationTable { get; } = quantizationTable;

        public HuffmanTable? Dc { get; set; }

        public HuffmanTable? Ac { get; set; }

        public int[]? Coefficients { get; set; }

        public int ScanBlocksX { get; set; }

        public int ScanBlocksY { get; set; }

        public int BlocksPerLine { get; set; }

        public float[]? Means { get; set; }

        public int Prediction { get; set; }
    }

    /// <summary>Canonical Huffman decoding (ITU T.81 F.2.2.3) with a 9-bit lookup for the common short codes.</summary>
    private sealed class HuffmanTable
    {
        private const int LookupBits = 9;
        private readonly byte[] values;
        private readonly int[] maxCode = new int[18];
        private readonly int[] valueOffset = new int[17];
        private readonly ushort[] lookup = new ushort[1 << LookupBits];

        public HuffmanTable(ReadOnlySpan<byte> counts, ReadOnlySpan<byte> symbols)
        {
            values = symbols.ToArray();
            int code = 0, k = 0;
            for (var length = 1; length <= 16; length++)
            {
                valueOffset[length] = k - code;
                for (var i = 0; i < counts[length - 1]; i++)
                {
                    if (length <= LookupBits)
                    {
                        var shift = LookupBits - length;
                        for (var fill = 0; fill < 1 << shift; fill++)
                        {
                            lookup[(code << shift) | fill] = (ushort)((length << 8) | values[k]);
                        }
                    }

                    code++;
                    k++;
                }

                maxCode[length] = counts[length - 1] == 0 ? -1 : code - 1;
                code <<= 1;
            }

            maxCode[17] = int.MaxValue;
        }

        public int Decode(ref BitReader reader)
        {
            var entry = lookup[reader.Peek(LookupBits)];
            if (entry != 0)
            {
                reader.Skip(entry >> 8);
                return entry & 0xFF;
            }

            var code = 0;
            for (var length = 1; length <= 16; length++)
            {
                code = (code << 1) | reader.Bits(1);
                if (code <= maxCode[length])
                {
                    return values[code + valueOffset[length]];
                }
            }

            throw new InvalidDataException("bad Huffman code");
        }
    }

    /// <summary>Reads the entropy-coded segment MSB first, removing stuffed zero bytes and stopping at markers.</summary>
    private struct BitReader(byte[] data, int position)
    {
        private ulong buffer;
        private int count;
        private int position = position;

        public int Peek(int bits)
        {
            Fill();
            return (int)(buffer >> (64 - bits));
        }

        public void Skip(int bits)
        {
            Fill();
            buffer <<= bits;
            count -= bits;
        }

        public int Bits(int bits)
        {
            var value = Peek(bits);
            buffer <<= bits;
            count -= bits;
            return value;
        }

        /// <summary>Drops the partial byte and the RSTn marker that must follow.</summary>
        public void Restart()
        {
            buffer = 0;
            count = 0;
            while (position + 1 < data.Length && !(data[position] == 0xFF && data[position + 1] is >= 0xD0 and <= 0xD7))
            {
                position++;
            }

            if (position + 1 >= data.Length)
            {
                throw new InvalidDataException("restart marker missing");
            }

            position += 2;
        }

        private void Fill()
        {
            while (count <= 56)
            {
                ulong next = 0;
                if (position < data.Length)
                {
                    var b = data[position];
                    if (b == 0xFF)
                    {
                        var following = position + 1 < data.Length ? data[position + 1] : 0xD9;
                        if (following == 0x00)
                        {
                            next = 0xFF;
                            position += 2;
                        }
                        else if (count > 16)
                        {
                            // A marker: feed zero bits only if the decoder actually needs more.
                            return;
                        }
                    }
                    else
                    {
                        next = b;
                        position++;
                    }
                }
                else if (count > 16)
                {
                    return;
                }

                buffer |= next << (56 - count);
                count += 8;
            }
        }
    }
}
