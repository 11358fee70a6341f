using StbImageSharp;
using StbImageWriteSharp;

namespace NitroEnclave.PowerShell.Tests;

public sealed class EnclaveDetectionImageCommandTests : IDisposable
{
    private const byte Grey = 100;

    /// <summary>A detection shaped like Invoke-EnclaveDetection's result: one airplane in the top-left quarter of a 200 x 100 image.</summary>
    private const string Detection = """
        $detection = [pscustomobject]@{
            Path = 'photo.png.enc'
            ImageWidth = 200
            ImageHeight = 100
            Objects = @([pscustomobject]@{ Label = 'airplane'; ClassId = 5; Score = 0.9; Box = [pscustomobject]@{ XMin = 0.1; YMin = 0.2; XMax = 0.5; YMax = 0.6 } })
        }
        """;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("annotate-ps-");

    public EnclaveDetectionImageCommandTests()
    {
        ImagePath = Path.Combine(_dir.FullName, "photo.png");
        File.WriteAllBytes(ImagePath, GreyPng(200, 100));
    }

    private string ImagePath { get; }

    public void Dispose() => _dir.Delete(recursive: true);

    private static byte[] GreyPng(int width, int height)
    {
        var rgb = Enumerable.Repeat(Grey, width * height * 3).ToArray();
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(rgb, width, height, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }

    private static ImageResult Decode(string path) => ImageResult.FromMemory(File.ReadAllBytes(path), StbImageSharp.ColorComponents.RedGreenBlue);

    private static (byte R, byte G, byte B) Pixel(ImageResult image, int x, int y)
    {
        var offset = ((y * image.Width) + x) * 3;
        return (image.Data[offset], image.Data[offset + 1], image.Data[offset + 2]);
    }

    private ScriptResult Run(string script, string destination) =>
        ModuleHost.Run(Detection + "\n" + script, new Dictionary<string, object?> { ["image"] = ImagePath, ["destination"] = destination });

    private string[] Files() => [.. _dir.GetFiles().Select(f => f.Name).Order()];

    [Fact]
    public void A_piped_result_is_drawn_on_the_image_and_PassThru_returns_the_file()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");

        var result = Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -PassThru", destination).AssertNoErrors();

        var file = Assert.IsType<FileInfo>(Assert.Single(result.Output).BaseObject);
        Assert.Equal(destination, file.FullName);
        var image = Decode(destination);
        Assert.Equal((200, 100), (image.Width, image.Height));

        // The box spans x 20..99 and y 20..59 with 2-pixel lines; its tag sits above it.
        var outline = Pixel(image, 20, 40);
        Assert.NotEqual((Grey, Grey, Grey), outline);
        Assert.Equal(outline, Pixel(image, 99, 40));
        Assert.Equal(outline, Pixel(image, 60, 59));
        Assert.Equal((Grey, Grey, Grey), Pixel(image, 60, 40));
        Assert.Equal((Grey, Grey, Grey), Pixel(image, 150, 80));
        Assert.Equal(outline, Pixel(image, 20, 11));
    }

    [Fact]
    public void Without_PassThru_nothing_is_returned_and_the_format_can_be_chosen()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.img");

        var result = Run("Export-EnclaveDetectionImage -InputObject $detection $image $destination -Format Jpeg -Quality 80", destination).AssertNoErrors();

        Assert.Empty(result.Output);
        Assert.Equal([0xFF, 0xD8, 0xFF], File.ReadAllBytes(destination)[..3]);
        Assert.Equal((200, 100), (Decode(destination).Width, Decode(destination).Height));
    }

    [Fact]
    public void The_module_s_own_result_type_is_drawn_too()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");

        // Build a real NitroEnclave.Protocol.EnclaveDetectionResult through the module's private load context.
        var result = ModuleHost.Run("""
            $context = [System.Runtime.Loader.AssemblyLoadContext]::All | Where-Object Name -eq 'NitroEnclave'
            $core = $context.LoadFromAssemblyName([System.Reflection.AssemblyName]::new('NitroEnclave.Core'))
            $trusted = $context.LoadFromAssemblyName([System.Reflection.AssemblyName]::new('NitroEnclave.Trusted'))
            $box = $trusted.GetType('NitroEnclave.Protocol.BoundingBox')
            $object = [System.Activator]::CreateInstance($trusted.GetType('NitroEnclave.Protocol.DetectedObject'), @('airplane', 5, 0.9, $box::new(0.1, 0.2, 0.5, 0.6), $box::new(20, 20, 100, 60)))
            $list = [System.Activator]::CreateInstance([System.Collections.Generic.List`1].MakeGenericType($object.GetType()))
            $list.Add($object)
            $response = [System.Activator]::CreateInstance($trusted.GetType('NitroEnclave.Protocol.DetectResponse'))
            $response.Objects = $list
            $response.ImageWidth = 200
            $response.ImageHeight = 100
            $response.Model = 'test'
            $response.Timings = [System.Collections.Generic.Dictionary[string, double]]::new()
            $detection = [System.Activator]::CreateInstance($core.GetType('NitroEnclave.Protocol.EnclaveDetectionResult'), @('photo.png.enc', $response, 'tcp://127.0.0.1:1', 1.0))
            $detection.GetType().FullName
            $detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination
            """, new Dictionary<string, object?> { ["image"] = ImagePath, ["destination"] = destination }).AssertNoErrors();

        Assert.Equal("NitroEnclave.Protocol.EnclaveDetectionResult", Assert.Single(result.Output).BaseObject);
        var image = Decode(destination);
        Assert.NotEqual((Grey, Grey, Grey), Pixel(image, 20, 40));
        Assert.Equal((Grey, Grey, Grey), Pixel(image, 60, 40));
    }

    [Fact]
    public void Hashtables_and_missing_class_ids_are_read_and_MinScore_filters()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");

        Run("""
            $saved = [pscustomobject]@{ ImageWidth = '200'; ImageHeight = 100; Objects = @(
                @{ Label = 'kite'; Score = '0.8'; Box = @{ XMin = 0.1; YMin = 0.2; XMax = 0.5; YMax = 0.6 } }
                [pscustomobject]@{ Label = 'bird'; ClassId = 2; Score = 0.2; Box = [pscustomobject]@{ XMin = 0.6; YMin = 0.3; XMax = 0.9; YMax = 0.9 } }
            ) }
            $saved | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -MinScore 0.5
            """, destination).AssertNoErrors();

        var image = Decode(destination);
        Assert.NotEqual((Grey, Grey, Grey), Pixel(image, 20, 40));
        Assert.Equal((Grey, Grey, Grey), Pixel(image, 120, 70));
    }

    [Fact]
    public void WhatIf_writes_nothing()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");

        var result = Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -WhatIf -PassThru", destination).AssertNoErrors();

        Assert.Empty(result.Output);
        Assert.Contains("What if:", result.FormattedText, StringComparison.Ordinal);
        Assert.Equal(["photo.png"], Files());
    }

    [Fact]
    public void An_existing_destination_is_kept_unless_Force_is_given()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");
        File.WriteAllText(destination, "earlier");

        var refused = Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination", destination);
        Assert.Equal("earlier", File.ReadAllText(destination));
        var forced = Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -Force", destination).AssertNoErrors();

        Assert.Equal(["DestinationExists"], refused.ErrorIds);
        Assert.Equal(destination, refused.Errors[0].TargetObject);
        Assert.Equal((200, 100), (Decode(destination).Width, Decode(destination).Height));
        Assert.Equal(["annotated.png", "photo.png"], Files());
    }

    [Fact]
    public void An_image_of_another_size_is_refused_unless_Force_is_given()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");
        File.WriteAllBytes(ImagePath, GreyPng(100, 200));

        var refused = Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination", destination);
        Assert.Equal(["photo.png"], Files());
        Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -Force", destination).AssertNoErrors();

        Assert.Equal(["ImageMismatch"], refused.ErrorIds);
        Assert.Equal(ImagePath, refused.Errors[0].TargetObject);
        Assert.Equal((100, 200), (Decode(destination).Width, Decode(destination).Height));
    }

    [Fact]
    public void Bad_input_is_reported_per_item_with_stable_error_ids()
    {
        var destination = Path.Combine(_dir.FullName, "annotated.png");
        var missing = ModuleHost.Run(
            Detection + "\n$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination",
            new Dictionary<string, object?> { ["image"] = Path.Combine(_dir.FullName, "missing.png"), ["destination"] = destination });
        var unknownFormat = Run("$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination ($destination + '.gif')", destination);
        var notAnImage = ModuleHost.Run(
            Detection + "\n$detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination",
            new Dictionary<string, object?> { ["image"] = Path.Combine(ModuleHost.RepositoryRoot, "NitroEnclave.psd1"), ["destination"] = destination });

        // A malformed result does not stop the next one.
        var mixed = Run("""
            $bad = [pscustomobject]@{ ImageWidth = 200; ImageHeight = 100; Objects = @([pscustomobject]@{ Label = 'x'; Score = 'high'; Box = $detection.Objects[0].Box }) }
            $noSize = [pscustomobject]@{ Objects = @() }
            $bad, $noSize, $detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination
            """, destination);

        Assert.Equal(["PathNotFound"], missing.ErrorIds);
        Assert.Equal(["AnnotationFormatUnknown"], unknownFormat.ErrorIds);
        Assert.Equal(["ImageUnrecognized"], notAnImage.ErrorIds);
        Assert.Equal(["DetectionResultInvalid", "DetectionResultInvalid"], mixed.ErrorIds);
        Assert.Contains("Score", mixed.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Equal(["annotated.png", "photo.png"], Files());
    }
}
