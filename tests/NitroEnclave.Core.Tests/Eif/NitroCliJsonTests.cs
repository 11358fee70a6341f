using NitroEnclave.Eif;

namespace NitroEnclave.Tests.Eif;

public sealed class NitroCliJsonTests
{
    private const string Pcr0 = "800df8e36aacb4e656f93c26c93b5a1adcd499773d25abb75fc723bb2e12304d10d14350beaa79c6084e0dae8d1f2a6a";
    private const string Pcr1 = "0343b056cd8485ca7890ddd833476d78460aed2aa161548e4e26bedf321726696257d623e8805f3f605946b3d8b0c6aa";
    private const string Pcr2 = "28eff6bcb841e3df8391c3f4b7fafdb0918e82acf164634577a0edc19fd8c1ad5bf85e0356688666e54af1a2525a728d";

    [Fact]
    public void Build_enclave_output_gives_the_measurements()
    {
        var json = $$"""
            {
              "Measurements": {
                "HashAlgorithm": "Sha384 { ... }",
                "PCR0": "{{Pcr0}}",
                "PCR1": "{{Pcr1}}",
                "PCR2": "{{Pcr2}}"
              }
            }
            """;

        var image = NitroCliJson.Parse(json, null);

        Assert.Equal(Pcr0, image.Measurements.PCR0);
        Assert.Equal(Pcr2, image.Measurements.PCR2);
        Assert.Null(image.Measurements.PCR8);
        Assert.Null(image.Measurements.CrcValid);
        Assert.False(image.IsSigned);
    }

    [Fact]
    public void Describe_eif_output_gives_the_image_description()
    {
        var json = $$"""
            {
              "EifVersion": 4,
              "Measurements": { "HashAlgorithm": "Sha384 { ... }", "PCR0": "{{Pcr0.ToUpperInvariant()}}", "PCR1": "{{Pcr1}}", "PCR2": "{{Pcr2}}", "PCR8": "{{Pcr1}}" },
              "IsSigned": true,
              "CheckCRC": true,
              "SignatureCheck": true,
              "ImageName": "hello",
              "ImageVersion": "1.0",
              "Metadata": { "BuildTime": "2026-11-01T10:00:00Z", "BuildTool": "nitro-cli", "BuildToolVersion": "1.4.2", "OperatingSystem": "Linux", "KernelVersion": "6.1", "DockerInfo": { "Id": "x" } }
            }
            """;

        var image = NitroCliJson.Parse(json, "/tmp/d.json");

        Assert.Equal(4, image.EifVersion);
        Assert.Equal(Pcr0, image.Measurements.PCR0);
        Assert.Equal(Pcr1, image.Measurements.PCR8);
        Assert.True(image.IsSigned);
        Assert.True(image.CheckCrc);
        Assert.True(image.SignatureCheck);
        Assert.Equal("hello", image.ImageName);
        Assert.Equal("nitro-cli", image.BuildMetadata!.BuildTool);
        Assert.Equal("/tmp/d.json", image.Measurements.Path);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("""{"Measurements": {"PCR0": "00", "PCR1": "00", "PCR2": "00"}}""")]
    [InlineData("""{"Measurements": {"PCR1": "00"}}""")]
    public void Anything_else_is_rejected(string json)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => NitroCliJson.Parse(json, null));
        Assert.Equal(EifErrors.InvalidNitroCliJson, error.ErrorId);
    }

    [Fact]
    public void The_accumulator_joins_lines_into_documents_and_ignores_braces_in_strings()
    {
        var accumulator = new JsonDocumentAccumulator();
        Assert.False(accumulator.Accepts("/path/to/image.eif"));
        Assert.True(accumulator.Accepts("  {"));
        Assert.Null(accumulator.Add("{"));
        Assert.True(accumulator.Accepts("\"a\": \"}\\\"{\","));
        Assert.Null(accumulator.Add("\"a\": \"}\\\"{\","));
        Assert.Null(accumulator.Add("\"b\": [1, {\"c\": 2}]"));
        var document = accumulator.Add("}");
        Assert.NotNull(document);
        Assert.False(accumulator.IsOpen);
        Assert.Contains("\"b\"", document, StringComparison.Ordinal);
    }
}
