using NitroEnclave.Tests;

namespace NitroEnclave.PowerShell.Tests;

public sealed class EnclavePcrCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("eif-ps-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Write(string name, TestEifBuilder builder) => builder.Write(Path.Combine(_dir.FullName, name));

    [Fact]
    public void Get_EnclavePcr_returns_the_pcrs_of_an_image()
    {
        var builder = TestEifBuilder.Typical();
        var path = Write("app.eif", builder);

        var result = ModuleHost.Run("Get-EnclavePcr -Path $p", new Dictionary<string, object?> { ["p"] = path }).AssertNoErrors();

        var pcr = Assert.Single(result.Output);
        Assert.Equal("NitroEnclave.Eif.EnclaveMeasurements", pcr.BaseObject.GetType().FullName);
        Assert.Equal(path, pcr.Properties["Path"].Value);
        Assert.Equal("SHA384", pcr.Properties["HashAlgorithm"].Value);
        Assert.Equal(builder.ExpectedPcr0(), pcr.Properties["PCR0"].Value);
        Assert.Equal(builder.ExpectedPcr1(), pcr.Properties["PCR1"].Value);
        Assert.Equal(builder.ExpectedPcr2(), pcr.Properties["PCR2"].Value);
        Assert.Null(pcr.Properties["PCR8"].Value);
        Assert.Contains(builder.ExpectedPcr0(), result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("PCR2", result.FormattedText, StringComparison.Ordinal);
    }

    [Fact]
    public void Wildcards_and_pipeline_file_objects_each_give_one_object_per_image()
    {
        var a = TestEifBuilder.Typical(seed: 1);
        var b = TestEifBuilder.Typical(seed: 2);
        Write("a.eif", a);
        Write("b.eif", b);
        var pattern = Path.Combine(_dir.FullName, "*.eif");

        var byWildcard = ModuleHost.Run("Get-EnclavePcr -Path $p | ForEach-Object PCR0", new Dictionary<string, object?> { ["p"] = pattern }).AssertNoErrors();
        var byPipeline = ModuleHost.Run(
            "[System.IO.DirectoryInfo]::new($d).GetFiles('*.eif') | Get-EnclavePcr | ForEach-Object PCR0",
            new Dictionary<string, object?> { ["d"] = _dir.FullName }).AssertNoErrors();
        var byPipedStrings = ModuleHost.Run("$p | Get-EnclavePcr | ForEach-Object PCR0", new Dictionary<string, object?> { ["p"] = pattern }).AssertNoErrors();

        string[] expected = [a.ExpectedPcr0(), b.ExpectedPcr0()];
        Assert.Equal(expected, byWildcard.Output.Select(o => (string)o.BaseObject).Order());
        Assert.Equal(expected.Order(), byPipeline.Output.Select(o => (string)o.BaseObject).Order());
        Assert.Equal(expected.Order(), byPipedStrings.Output.Select(o => (string)o.BaseObject).Order());
    }

    [Fact]
    public void LiteralPath_does_not_expand_wildcard_characters()
    {
        var builder = TestEifBuilder.Typical();
        var path = Write("odd[1].eif", builder);

        var literal = ModuleHost.Run("Get-EnclavePcr -LiteralPath $p", new Dictionary<string, object?> { ["p"] = path }).AssertNoErrors();

        Assert.Equal(builder.ExpectedPcr0(), literal.Output.Single().Properties["PCR0"].Value);
    }

    [Fact]
    public void A_bad_image_is_reported_with_its_error_id_and_path_and_the_pipeline_goes_on()
    {
        var good = TestEifBuilder.Typical();
        var goodPath = Write("good.eif", good);
        var notEif = Path.Combine(_dir.FullName, "notes.txt");
        File.WriteAllText(notEif, "hello, this is not an image");
        var truncated = Path.Combine(_dir.FullName, "truncated.eif");
        File.WriteAllBytes(truncated, good.Build()[..2000]);
        var missing = Path.Combine(_dir.FullName, "missing.eif");

        var result = ModuleHost.Run(
            "$files | Get-EnclavePcr",
            new Dictionary<string, object?> { ["files"] = new[] { notEif, truncated, missing, goodPath } });

        Assert.Equal(["EifNotAnImage", "EifSectionOutOfBounds", "PathNotFound"], result.ErrorIds);
        Assert.Equal(notEif, result.Errors[0].TargetObject);
        Assert.Equal(truncated, result.Errors[1].TargetObject);
        Assert.Equal(good.ExpectedPcr0(), Assert.Single(result.Output).Properties["PCR0"].Value);
        Assert.Equal(System.Management.Automation.ErrorCategory.InvalidData, result.Errors[0].CategoryInfo.Category);
    }

    [Fact]
    public void A_crc_mismatch_is_a_warning_and_in_the_object_but_an_error_under_Strict()
    {
        var builder = TestEifBuilder.Typical();
        builder.CrcOverride = 0xDEADBEEF;
        var path = Write("badcrc.eif", builder);
        var variables = new Dictionary<string, object?> { ["p"] = path };

        var lenient = ModuleHost.Run("Get-EnclavePcr $p", variables).AssertNoErrors();
        var strict = ModuleHost.Run("Get-EnclavePcr $p -Strict", variables);

        Assert.Equal(false, Assert.Single(lenient.Output).Properties["CrcValid"].Value);
        Assert.Contains("deadbeef", Assert.Single(lenient.Warnings).Message, StringComparison.Ordinal);
        Assert.Empty(strict.Output);
        Assert.Equal(["EifCrcMismatch"], strict.ErrorIds);
        Assert.Equal(path, strict.Errors[0].TargetObject);
    }

    [Fact]
    public void Piped_nitro_cli_build_output_becomes_the_same_measurements()
    {
        var builder = TestEifBuilder.Typical();
        var json = $$"""
            {
              "Measurements": {
                "HashAlgorithm": "Sha384 { ... }",
                "PCR0": "{{builder.ExpectedPcr0().ToUpperInvariant()}}",
                "PCR1": "{{builder.ExpectedPcr1()}}",
                "PCR2": "{{builder.ExpectedPcr2()}}"
              }
            }
            """;
        var lines = json.Split('\n');

        var piped = ModuleHost.Run("$lines | Get-EnclavePcr", new Dictionary<string, object?> { ["lines"] = lines }).AssertNoErrors();
        var jsonFile = Path.Combine(_dir.FullName, "build.json");
        File.WriteAllText(jsonFile, json);
        var fromFile = ModuleHost.Run("Get-EnclavePcr -LiteralPath $p", new Dictionary<string, object?> { ["p"] = jsonFile }).AssertNoErrors();

        var fromPipe = Assert.Single(piped.Output);
        Assert.Equal(builder.ExpectedPcr0(), fromPipe.Properties["PCR0"].Value);
        Assert.Equal(builder.ExpectedPcr2(), fromPipe.Properties["PCR2"].Value);
        Assert.Null(fromPipe.Properties["Path"].Value);
        Assert.Equal(jsonFile, Assert.Single(fromFile.Output).Properties["Path"].Value);
    }

    [Fact]
    public void Unfinished_or_invalid_piped_json_is_an_error()
    {
        var unfinished = ModuleHost.Run("'{', '  \"Measurements\": {' | Get-EnclavePcr");
        var invalid = ModuleHost.Run("'{\"Measurements\": {\"PCR0\": \"abc\"}}' | Get-EnclavePcr");

        Assert.Equal(["NitroCliJsonIncomplete"], unfinished.ErrorIds);
        Assert.Equal(["NitroCliJsonInvalid"], invalid.ErrorIds);
    }

    [Fact]
    public void Get_EnclaveImage_reports_what_describe_eif_reports()
    {
        var builder = TestEifBuilder.Typical();
        var path = Write("app.eif", builder);

        var result = ModuleHost.Run("Get-EnclaveImage $p", new Dictionary<string, object?> { ["p"] = path }).AssertNoErrors();

        var image = Assert.Single(result.Output);
        Assert.Equal(4, image.Properties["EifVersion"].Value);
        Assert.Equal("x86_64", image.Properties["Architecture"].Value);
        Assert.Equal(false, image.Properties["IsSigned"].Value);
        Assert.Equal(true, image.Properties["CheckCrc"].Value);
        Assert.Equal("hello", image.Properties["ImageName"].Value);
        Assert.Equal("1.0", image.Properties["ImageVersion"].Value);
        Assert.Equal(5, ((System.Collections.ICollection)image.Properties["Sections"].Value).Count);
        Assert.Contains("nitro-cli 1.4.2", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("Kernel:3000", result.FormattedText, StringComparison.Ordinal);
    }
}
