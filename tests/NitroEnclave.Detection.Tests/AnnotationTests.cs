using NitroEnclave.Detection.Annotation;
using NitroEnclave.Protocol;

namespace NitroEnclave.Detection.Tests;

public sealed class AnnotationTests : IDisposable
{
    private static readonly (byte R, byte G, byte B) Grey = (100, 100, 100);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("annotate-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static byte[] Flat(int width, int height, (byte R, byte G, byte B) colour)
    {
        var rgb = new byte[width * height * 3];
        for (var i = 0; i < rgb.Length; i += 3)
        {
            (rgb[i], rgb[i + 1], rgb[i + 2]) = colour;
        }

        return rgb;
    }

    private static byte[] GreyPng(int width, int height) => TestImages.Png(Flat(width, height, Grey), width, height);

    private static DetectedObject Object(string label, int classId, double score, double xMin, double yMin, double xMax, double yMax) =>
        new(label, classId, score, new BoundingBox(xMin, yMin, xMax, yMax), new BoundingBox(0, 0, 0, 0));

    private static AnnotatedImage Draw(byte[] image, int width, int height, params DetectedObject[] objects) =>
        DetectionAnnotator.Draw(image, objects, width, height, new AnnotationOptions());

    private static void AssertNear((byte R, byte G, byte B) expected, (byte R, byte G, byte B) actual, int tolerance = 24) =>
        Assert.True(
            Math.Abs(expected.R - actual.R) <= tolerance && Math.Abs(expected.G - actual.G) <= tolerance && Math.Abs(expected.B - actual.B) <= tolerance,
            $"expected about {expected}, got {actual}");

    [Fact]
    public void The_outline_is_drawn_in_the_class_colour_and_the_inside_is_left_as_it_was()
    {
        // 200 x 100: 2-pixel lines; the box spans x 40..119 and y 30..89.
        var image = Draw(GreyPng(200, 100), 200, 100, Object("airplane", 3, 0.9, 0.2, 0.3, 0.6, 0.9));
        var colour = DetectionAnnotator.ColourOf(3);

        Assert.Equal(2, DetectionAnnotator.LineThickness(200, 100));
        foreach (var (x, y) in new[] { (40, 60), (41, 60), (118, 60), (119, 60), (80, 30), (80, 31), (80, 88), (80, 89), (40, 89), (119, 89) })
        {
            Assert.Equal(colour, image.GetPixel(x, y));
        }

        foreach (var (x, y) in new[] { (42, 60), (117, 60), (80, 32), (80, 87), (80, 60), (39, 60), (120, 60), (80, 90), (150, 10) })
        {
            Assert.Equal(Grey, image.GetPixel(x, y));
        }
    }

    [Fact]
    public void The_tag_above_the_box_shows_the_label_in_the_font()
    {
        // "A 0.50" above a box whose top is at y 50: font scale 1, one pixel of padding, so the tag is 9 pixels high.
        var image = Draw(GreyPng(300, 200), 300, 200, Object("A", 0, 0.5, 0.1, 0.25, 0.5, 0.75));
        var background = DetectionAnnotator.ColourOf(0);
        var (left, top) = (30, 50 - 9);
        string[] glyphA = [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"];

        Assert.Equal("A 0.50", DetectionAnnotator.TagText(Object("A", 0, 0.5, 0, 0, 1, 1)));
        Assert.Equal(background, image.GetPixel(left, top));
        Assert.Equal(Grey, image.GetPixel(left, top - 1));
        for (var row = 0; row < 7; row++)
        {
            for (var column = 0; column < 5; column++)
            {
                var pixel = image.GetPixel(left + 1 + column, top + 1 + row);
                if (glyphA[row][column] == '#')
                {
                    Assert.NotEqual(background, pixel);
                }
                else
                {
                    Assert.Equal(background, pixel);
                }
            }
        }

        // "A 0.50" is 6 characters of 6 font pixels, less the last blank column, plus padding on both sides.
        Assert.Equal(background, image.GetPixel(left + 36, top + 8));
        Assert.Equal(Grey, image.GetPixel(left + 37, top + 4));
    }

    [Fact]
    public void Every_printable_character_has_its_own_glyph()
    {
        var patterns = new HashSet<string>();
        for (var c = '!'; c <= '~'; c++)
        {
            var pattern = string.Concat(Enumerable.Range(0, 35).Select(i => BitmapFont.IsInked(c, i % 5, i / 5) ? '#' : '.'));
            Assert.Contains('#', pattern);
            Assert.True(patterns.Add(pattern), $"'{c}' looks like another character");
        }

        Assert.DoesNotContain(Enumerable.Range(0, 35), i => BitmapFont.IsInked(' ', i % 5, i / 5));
        Assert.Equal(BitmapFont.IsInked('?', 2, 0), BitmapFont.IsInked('é', 2, 0));
    }

    [Fact]
    public void Boxes_reaching_past_the_edges_are_clipped_and_boxes_outside_draw_nothing()
    {
        var png = GreyPng(100, 100);
        var image = Draw(png, 100, 100, Object("cut", 1, 0.9, -0.2, 0.5, 0.3, 1.4), Object("gone", 2, 0.9, 1.2, 0.2, 1.5, 0.4));
        var colour = DetectionAnnotator.ColourOf(1);

        // The left and bottom edges are outside the image: only the top and right edges show, down to the last row.
        Assert.Equal(colour, image.GetPixel(0, 50));
        Assert.Equal(colour, image.GetPixel(29, 99));
        Assert.Equal(Grey, image.GetPixel(0, 70));
        Assert.Equal(Grey, image.GetPixel(15, 99));
        Assert.DoesNotContain(
            Enumerable.Range(0, 100 * 100),
            i => image.GetPixel(i % 100, i / 100) == DetectionAnnotator.ColourOf(2));
    }

    [Fact]
    public void A_tag_near_the_right_or_top_edge_is_moved_inside_the_image()
    {
        var image = Draw(GreyPng(100, 60), 100, 60, Object("airplane", 4, 0.78, 0.8, 0.0, 1.0, 0.5));
        var colour = DetectionAnnotator.ColourOf(4);

        // No room above the box: the 9-pixel tag sits inside its top, ending at the right edge of the image.
        Assert.Equal(colour, image.GetPixel(99, 8));
        Assert.Equal(colour, image.GetPixel(100 - 79, 0));
        Assert.Equal(Grey, image.GetPixel(100 - 80, 4));
    }

    [Fact]
    public void Boxes_are_placed_in_the_upright_image_of_an_exif_rotated_photo()
    {
        // Stored 120 x 80 with quadrants red, green, blue, white; orientation 6 shows it turned a quarter clockwise, 80 x 120.
        var jpeg = TestImages.WithOrientation(TestImages.Jpeg(TestImages.Quadrants(120, 80), 120, 80), 6);
        var image = Draw(jpeg, 80, 120, Object("thing", 7, 0.9, 0.5, 0.0, 1.0, 0.5));
        var colour = DetectionAnnotator.ColourOf(7);

        Assert.Equal((80, 120), (image.Width, image.Height));
        AssertNear((0, 0, 255), image.GetPixel(20, 30));
        AssertNear((255, 0, 0), image.GetPixel(60, 30));
        AssertNear((0, 255, 0), image.GetPixel(60, 90));
        AssertNear((255, 255, 255), image.GetPixel(20, 90));
        Assert.Equal(colour, image.GetPixel(40, 30));
        Assert.Equal(colour, image.GetPixel(79, 30));
        Assert.Equal(colour, image.GetPixel(60, 59));
        Assert.NotEqual(colour, image.GetPixel(60, 62));
    }

    [Fact]
    public void Objects_below_the_minimum_score_are_not_drawn()
    {
        var objects = new[] { Object("sure", 1, 0.9, 0.1, 0.1, 0.4, 0.4), Object("unsure", 2, 0.3, 0.6, 0.6, 0.9, 0.9) };

        var image = DetectionAnnotator.Draw(GreyPng(100, 100), objects, 100, 100, new AnnotationOptions { MinScore = 0.5 });

        Assert.Equal(DetectionAnnotator.ColourOf(1), image.GetPixel(10, 20));
        Assert.Equal(Grey, image.GetPixel(60, 70));
    }

    [Fact]
    public void Png_output_decodes_to_the_same_pixels_and_jpeg_output_to_nearly_the_same()
    {
        var image = Draw(GreyPng(64, 48), 64, 48, Object("car", 2, 0.6, 0.25, 0.25, 0.75, 0.75));

        var png = ImageDecoder.Decode(image.Encode(ImageFormat.Png));
        var jpeg = ImageDecoder.Decode(image.Encode(ImageFormat.Jpeg, 95));

        Assert.Equal((64, 48), (png.Width, png.Height));
        Assert.Equal((64, 48), (jpeg.Width, jpeg.Height));
        Assert.Equal(ImageFormat.Jpeg, ImageDecoder.ReadHeader(image.Encode(ImageFormat.Jpeg)).Format);
        for (var y = 0; y < 48; y++)
        {
            for (var x = 0; x < 64; x++)
            {
                Assert.Equal(image.GetPixel(x, y), png.GetPixel(x, y));
            }
        }

        AssertNear(Grey, jpeg.GetPixel(32, 24));
        AssertNear(Grey, jpeg.GetPixel(2, 45));
        Assert.Equal("AnnotationOptionInvalid", Assert.Throws<NitroEnclaveException>(() => image.Encode(ImageFormat.Jpeg, 0)).ErrorId);
    }

    [Fact]
    public void An_image_of_another_size_than_the_detection_is_refused_unless_allowed()
    {
        var png = GreyPng(100, 80);
        var objects = new[] { Object("airplane", 4, 0.9, 0.1, 0.1, 0.5, 0.5) };

        var error = Assert.Throws<NitroEnclaveException>(() => DetectionAnnotator.Draw(png, objects, 80, 100, new AnnotationOptions()));
        var forced = DetectionAnnotator.Draw(png, objects, 80, 100, new AnnotationOptions { AllowSizeMismatch = true });

        Assert.Equal("ImageMismatch", error.ErrorId);
        Assert.Contains("100 x 80", error.Message, StringComparison.Ordinal);
        Assert.Equal(DetectionAnnotator.ColourOf(4), forced.GetPixel(10, 20));
    }

    [Fact]
    public void Bad_input_is_refused_with_typed_errors()
    {
        var png = GreyPng(40, 40);
        NitroEnclaveException Fails(Action action) => Assert.Throws<NitroEnclaveException>(action);

        Assert.Equal("DetectionResultInvalid", Fails(() => Draw(png, 40, 40, Object("x", 1, 0.9, double.NaN, 0, 1, 1))).ErrorId);
        Assert.Equal("AnnotationOptionInvalid", Fails(() => DetectionAnnotator.Draw(png, [], 40, 40, new AnnotationOptions { MinScore = 2 })).ErrorId);
        Assert.Equal("ImageUnrecognized", Fails(() => Draw("not an image"u8.ToArray(), 40, 40)).ErrorId);
        Assert.Equal("ImageTooLarge", Fails(() => DetectionAnnotator.Draw(png, [], 40, 40, new AnnotationOptions { MaxPixels = 1000 })).ErrorId);
        Assert.Equal("AnnotationFormatUnknown", Fails(() => DetectionAnnotator.ResolveFormat("out.gif", null)).ErrorId);
        Assert.Equal(ImageFormat.Jpeg, DetectionAnnotator.ResolveFormat("out.JPEG", null));
        Assert.Equal(ImageFormat.Png, DetectionAnnotator.ResolveFormat("out.jpg", ImageFormat.Png));
    }

    [Fact]
    public void Export_writes_the_file_in_the_format_of_its_extension_and_leaves_no_temporary_file()
    {
        var source = Path.Combine(_dir.FullName, "photo.png");
        File.WriteAllBytes(source, GreyPng(50, 40));
        var objects = new[] { Object("cat", 1, 0.9, 0.2, 0.2, 0.8, 0.8) };

        var png = DetectionAnnotator.Export(source, Path.Combine(_dir.FullName, "out.png"), objects, 50, 40, new AnnotationOptions());
        var jpeg = DetectionAnnotator.Export(source, Path.Combine(_dir.FullName, "out.jpg"), objects, 50, 40, new AnnotationOptions { JpegQuality = 50 });

        Assert.Equal(ImageFormat.Png, ImageDecoder.ReadHeader(File.ReadAllBytes(png)).Format);
        Assert.Equal(ImageFormat.Jpeg, ImageDecoder.ReadHeader(File.ReadAllBytes(jpeg)).Format);
        Assert.Equal(DetectionAnnotator.ColourOf(1), ImageDecoder.Decode(File.ReadAllBytes(png)).GetPixel(10, 20));
        Assert.Equal(["out.jpg", "out.png", "photo.png"], _dir.GetFiles().Select(f => f.Name).Order());
    }

    [Fact]
    public void Export_replaces_an_existing_file_only_when_asked()
    {
        var source = Path.Combine(_dir.FullName, "photo.png");
        File.WriteAllBytes(source, GreyPng(50, 40));
        var destination = Path.Combine(_dir.FullName, "out.png");
        File.WriteAllText(destination, "keep me");

        var error = Assert.Throws<NitroEnclaveException>(() => DetectionAnnotator.Export(source, destination, [], 50, 40, new AnnotationOptions()));
        Assert.Equal("DestinationExists", error.ErrorId);
        Assert.Equal("keep me", File.ReadAllText(destination));

        DetectionAnnotator.Export(source, destination, [], 50, 40, new AnnotationOptions { Overwrite = true });
        Assert.Equal((50, 40), (ImageDecoder.Decode(File.ReadAllBytes(destination)).Width, ImageDecoder.Decode(File.ReadAllBytes(destination)).Height));
    }

    [Fact]
    public void Export_failures_leave_nothing_behind()
    {
        var source = Path.Combine(_dir.FullName, "photo.png");
        File.WriteAllBytes(source, GreyPng(50, 40));
        var destination = Path.Combine(_dir.FullName, "out.png");
        NitroEnclaveException Fails(string image, string target, int width = 50) =>
            Assert.Throws<NitroEnclaveException>(() => DetectionAnnotator.Export(image, target, [], width, 40, new AnnotationOptions()));

        Assert.Equal("ImageNotFound", Fails(Path.Combine(_dir.FullName, "missing.png"), destination).ErrorId);
        Assert.Equal("ImageMismatch", Fails(source, destination, width: 60).ErrorId);
        Assert.Equal("AnnotationWriteFailed", Fails(source, Path.Combine(_dir.FullName, "no-such-folder", "out.png")).ErrorId);
        Assert.Equal(["photo.png"], _dir.GetFiles().Select(f => f.Name));
    }

    [Fact]
    public void The_reference_detections_are_drawn_on_the_air_show_photo()
    {
        // The reference sample's five airplanes; its boxes are [ymin, xmin, ymax, xmax] and its scores percentages.
        var reference = System.Text.Json.JsonDocument.Parse(TestFiles.DataBytes("air-show.expected.json"));
        var objects = reference.RootElement.GetProperty("objects_detected").EnumerateArray().Select(o =>
        {
            var box = o.GetProperty("detection_box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            return Object(o.GetProperty("name").GetString()!, 4, o.GetProperty("score").GetDouble() / 100, box[1], box[0], box[3], box[2]);
        }).ToList();

        var image = DetectionAnnotator.Draw(TestFiles.DataBytes("air-show.jpg"), objects, 3994, 3235, new AnnotationOptions());

        Assert.Equal(9, DetectionAnnotator.LineThickness(3994, 3235));
        var colour = DetectionAnnotator.ColourOf(4);
        foreach (var detected in objects)
        {
            var (left, right) = ((int)Math.Round(detected.Box.XMin * 3994), (int)Math.Round(detected.Box.XMax * 3994));
            var middle = (int)((detected.Box.YMin + detected.Box.YMax) / 2 * 3235);
            Assert.Equal(colour, image.GetPixel(left, middle));
            Assert.Equal(colour, image.GetPixel(left + 8, middle));
            Assert.NotEqual(colour, image.GetPixel(left + 9, middle));
            Assert.Equal(colour, image.GetPixel(right - 1, middle));
        }
    }
}
