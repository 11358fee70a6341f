using System.Text;
using NitroEnclave.Envelope;
using NitroEnclave.Protocol;
using NitroEnclave.Tests.Envelope;

namespace NitroEnclave.Tests.Protocol;

/// <summary>
/// Reading a confidential result file as the data owner: a result written the way the enclave writes it reads back as
/// the open mode's object, and a file renamed, swapped for another input's, holding the annotated image, or in
/// another format version is refused with a typed error.
/// </summary>
public sealed class ConfidentialResultFilesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("confidential-files-").FullName;
    private readonly InMemoryKeyProvider _kms = new();
    private readonly byte[] _input = Encoding.UTF8.GetBytes("the encrypted input, as the enclave received it");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task A_result_reads_back_as_an_EnclaveDetectionResult()
    {
        var path = await WriteResultAsync("air-show.jpg.result.enc");

        var result = await ConfidentialResultFiles.ReadAsync(path, _kms, CancellationToken.None);

        Assert.Equal(path, result.Path);
        Assert.Equal("airplane", Assert.Single(result.Objects).Label);
        Assert.Equal((640, 480, "air-show.jpg.enc"), (result.ImageWidth, result.ImageHeight, result.InputName));
        Assert.Equal(ConfidentialResultFormat.Sha256Hex(_input), result.InputSha256);
        Assert.Equal(12.5, result.Timings["inference"]);
        Assert.Equal("air-show.jpg.result.enc: 1 object (airplane x1)", result.ToString());
    }

    [Fact]
    public async Task A_result_renamed_to_another_image_is_refused()
    {
        var path = await WriteResultAsync("other.jpg.result.enc");

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => ConfidentialResultFiles.ReadAsync(path, _kms, CancellationToken.None));

        Assert.Equal(ConfidentialResultErrors.Mismatch, error.ErrorId);
        Assert.Contains("renamed or swapped", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_result_beside_an_input_it_was_not_made_from_is_refused()
    {
        var path = await WriteResultAsync("air-show.jpg.result.enc");
        await File.WriteAllTextAsync(Path.Combine(_folder, "air-show.jpg.enc"), "another file under the same name");

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => ConfidentialResultFiles.ReadAsync(path, _kms, CancellationToken.None));

        Assert.Equal(ConfidentialResultErrors.Mismatch, error.ErrorId);
        Assert.Contains("another file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_annotated_image_under_a_result_name_is_refused()
    {
        var path = await WriteResultAsync("air-show.jpg.result.enc", content: ConfidentialResultFormat.AnnotatedImageContent);

        Assert.Equal(ConfidentialResultErrors.Mismatch, (await Assert.ThrowsAsync<NitroEnclaveException>(() => ConfidentialResultFiles.ReadAsync(path, _kms, CancellationToken.None))).ErrorId);
    }

    [Fact]
    public async Task Another_format_version_is_refused()
    {
        var document = Encoding.UTF8.GetString(Document()).Replace("\"version\":1", "\"version\":2", StringComparison.Ordinal);
        var path = await WriteResultAsync("air-show.jpg.result.enc", document: Encoding.UTF8.GetBytes(document));

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => ConfidentialResultFiles.ReadAsync(path, _kms, CancellationToken.None));

        Assert.Equal(ConfidentialResultErrors.Invalid, error.ErrorId);
        Assert.Contains("version 2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("air-show.jpg.enc", "air-show.jpg")]
    [InlineData("AIR.PNG.ENC", "AIR.PNG")]
    [InlineData("sample.encrypted", "sample.encrypted")]
    [InlineData(".enc", ".enc")]
    public void The_image_name_is_the_input_name_without_its_enc(string input, string image) =>
        Assert.Equal(image, ConfidentialResultFiles.ImageName(Path.Combine("photos", input)));

    private byte[] Document() => ConfidentialResultFormat.Write(
        "air-show.jpg.enc",
        ConfidentialResultFormat.Sha256Hex(_input),
        "ssdlite",
        640,
        480,
        [new DetectedObject("airplane", 5, 0.91, new BoundingBox(0.1, 0.2, 0.3, 0.4), new BoundingBox(64, 96, 192, 192))],
        new Dictionary<string, double> { ["inference"] = 12.5 });

    /// <summary>Writes a result as the enclave does, with the input it was made from beside it.</summary>
    private async Task<string> WriteResultAsync(string name, string content = ConfidentialResultFormat.ResultContent, byte[]? document = null)
    {
        await File.WriteAllBytesAsync(Path.Combine(_folder, "air-show.jpg.enc"), _input);
        var output = new MemoryStream();
        await EnvelopeEncryptor.EncryptAsync(new MemoryStream(document ?? Document()), output, _kms, new EnvelopeEncryptOptions
        {
            KeyId = InMemoryKeyProvider.DefaultArn,
            EncryptionContext = ConfidentialResultFormat.EncryptionContext(content, "air-show.jpg.enc", ConfidentialResultFormat.Sha256Hex(_input)),
        });
        var path = Path.Combine(_folder, name);
        await File.WriteAllBytesAsync(path, output.ToArray());
        return path;
    }
}
