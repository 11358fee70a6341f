using System.Text.Json;
using NitroEnclave.Envelope;

namespace NitroEnclave.Protocol;

/// <summary>The stable error ids of confidential result files.</summary>
public static class ConfidentialResultErrors
{
    /// <summary>The file is not a result file, or its content, name or input do not match what its encryption context binds.</summary>
    public const string Mismatch = "ConfidentialResultMismatch";

    /// <summary>The decrypted document is not a result of a format version this module reads.</summary>
    public const string Invalid = "ConfidentialResultInvalid";

    /// <summary>-Annotate or -ResultPath without -ResultKeyId, or a result key id KMS would not accept.</summary>
    public const string OptionInvalid = "ConfidentialResultOptionInvalid";
}

/// <summary>
/// What the parent gets for a confidential detection: where the encrypted result went, the input's name and the
/// timings. No labels, scores, boxes or image size: those are in the result file, which only the result key's
/// decrypters (the data owner) open with Unprotect-EnclaveDetectionResult.
/// </summary>
public sealed class ConfidentialDetectionResult
{
    public ConfidentialDetectionResult(string path, string imageName, string resultPath, string? annotatedImagePath, string model,
        IReadOnlyDictionary<string, double> timings, string endpoint, double roundTripMilliseconds)
    {
        Path = path;
        ImageName = imageName;
        ResultPath = resultPath;
        AnnotatedImagePath = annotatedImagePath;
        Model = model;
        Timings = new Dictionary<string, double>(timings) { ["roundTrip"] = roundTripMilliseconds };
        Endpoint = endpoint;
    }

    /// <summary>The encrypted file sent to the enclave.</summary>
    public string Path { get; }

    /// <summary>The image's name: the encrypted file's name without ".enc" (the result is bound to the encrypted file's name and hash).</summary>
    public string ImageName { get; }

    /// <summary>The encrypted result, &lt;image name&gt;.result.enc.</summary>
    public string ResultPath { get; }

    /// <summary>The encrypted annotated JPEG, &lt;image name&gt;.annotated.jpg.enc, with -Annotate; otherwise null.</summary>
    public string? AnnotatedImagePath { get; }

    public string Model { get; }

    /// <summary>Milliseconds per stage inside the enclave (encrypt included), plus "roundTrip" as the client saw it.</summary>
    public IReadOnlyDictionary<string, double> Timings { get; }

    public string Endpoint { get; }

    /// <summary>For example "air-show.jpg: confidential result in air-show.jpg.result.enc".</summary>
    public override string ToString() =>
        $"{ImageName}: confidential result in {System.IO.Path.GetFileName(ResultPath)}{(AnnotatedImagePath is null ? string.Empty : " and " + System.IO.Path.GetFileName(AnnotatedImagePath))}";
}

/// <summary>Names, writes and reads the files of confidential results (docs/protocol.md, "Confidential results").</summary>
public static class ConfidentialResultFiles
{
    public const string ResultSuffix = ".result.enc";
    public const string AnnotatedSuffix = ".annotated.jpg.enc";

    /// <summary>Far above a result of 10,000 objects (about 2 MB of JSON).</summary>
    public const int MaxResultFileBytes = 16 << 20;

    /// <summary>The image's name for an encrypted input: its file name without a final ".enc" (air-show.jpg.enc: air-show.jpg).</summary>
    public static string ImageName(string inputPath)
    {
        var name = Path.GetFileName(inputPath);
        return name.Length > 4 && name.EndsWith(".enc", StringComparison.OrdinalIgnoreCase) ? name[..^4] : name;
    }

    /// <summary>Writes one file whole or not at all; an existing file is replaced only by a complete one.</summary>
    public static async Task WriteAsync(string destination, byte[] content, CancellationToken cancellationToken)
    {
        using var output = PendingOutputFile.Create(destination, overwrite: true, ownerOnly: false);
        await output.Stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        output.Commit();
    }

    /// <summary>
    /// Decrypts a result file with the caller's KMS access and checks that it is what its name says: a result (not an
    /// annotated image) for the image named in the file's name, in a format this module reads. When the encrypted
    /// input the enclave read lies beside it (under the name bound in the context), its SHA-256 must be the one the enclave bound.
    /// </summary>
    public static async Task<EnclaveDetectionResult> ReadAsync(string path, IDataKeyDecryptor decryptor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(decryptor);
        var fileName = Path.GetFileName(path);
        if (!fileName.EndsWith(ResultSuffix, StringComparison.Ordinal) || fileName.Length == ResultSuffix.Length)
        {
            throw Mismatch($"'{fileName}' is not a result file: their names end in {ResultSuffix}.");
        }

        var expectedImage = fileName[..^ResultSuffix.Length];
        // A result is a few kilobytes; an annotated image or anything else under this name is refused unread.
        if (new FileInfo(path).Length > MaxResultFileBytes)
        {
            throw Mismatch($"'{fileName}' is larger than any result file ({MaxResultFileBytes:N0} bytes).");
        }

        var message = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        if (EncryptedFileFormat.Detect(message) != EncryptedFileKind.EncryptionSdkMessage)
        {
            throw Mismatch($"'{fileName}' is not an AWS Encryption SDK message.");
        }

        using var plaintext = new MemoryStream();
        var decrypted = await EnvelopeDecryptor.DecryptAsync(new MemoryStream(message, writable: false), plaintext, decryptor, cancellationToken: cancellationToken).ConfigureAwait(false);
        var context = decrypted.EncryptionContext;
        if (!context.TryGetValue(ConfidentialResultFormat.ContentKey, out var content) || content != ConfidentialResultFormat.ResultContent)
        {
            throw Mismatch($"'{fileName}' does not hold a detection result (its encryption context says '{content ?? "nothing"}').");
        }

        if (!context.TryGetValue(ConfidentialResultFormat.InputNameKey, out var inputName) || ImageName(inputName) != expectedImage)
        {
            throw Mismatch($"'{fileName}' holds the result for '{inputName}', not for '{expectedImage}': the file was renamed or swapped.");
        }

        var inputSha256 = context.TryGetValue(ConfidentialResultFormat.InputSha256Key, out var hash) ? hash : string.Empty;
        var besideInput = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", inputName);
        if (File.Exists(besideInput))
        {
            var actual = ConfidentialResultFormat.Sha256Hex(await File.ReadAllBytesAsync(besideInput, cancellationToken).ConfigureAwait(false));
            if (actual != inputSha256)
            {
                throw Mismatch($"'{fileName}' is the result of another file than the '{inputName}' beside it (SHA-256 {inputSha256}; that file's is {actual}).");
            }
        }

        return Parse(plaintext.ToArray(), path, inputName, inputSha256);
    }

    /// <summary>Reads the version 1 document; anything else is ConfidentialResultInvalid.</summary>
    internal static EnclaveDetectionResult Parse(byte[] document, string path, string inputName, string inputSha256)
    {
        try
        {
            using var json = JsonDocument.Parse(document);
            var root = json.RootElement;
            if (root.GetProperty("format").GetString() != ConfidentialResultFormat.FormatName)
            {
                throw Invalid("it is not a NitroEnclave detection result");
            }

            var version = root.GetProperty("version").GetInt32();
            if (version != ConfidentialResultFormat.Version)
            {
                throw Invalid($"format version {version} is not one this module reads ({ConfidentialResultFormat.Version})");
            }

            var documentInput = root.GetProperty("input");
            if (documentInput.GetProperty("name").GetString() != inputName || documentInput.GetProperty("sha256").GetString() != inputSha256)
            {
                throw Mismatch("the result inside the file names another input than its encryption context.");
            }

            var objects = root.GetProperty("objects").EnumerateArray().Select(o => new DetectedObject(
                o.GetProperty("label").GetString() ?? string.Empty,
                o.GetProperty("classId").GetInt32(),
                o.GetProperty("score").GetDouble(),
                Box(o.GetProperty("box")),
                Box(o.GetProperty("pixelBox")))).ToList();
            var timings = root.GetProperty("timings").EnumerateObject().ToDictionary(t => t.Name, t => t.Value.GetDouble(), StringComparer.Ordinal);
            return new EnclaveDetectionResult(path, objects, root.GetProperty("imageWidth").GetInt32(), root.GetProperty("imageHeight").GetInt32(),
                root.GetProperty("model").GetString() ?? string.Empty, timings, inputName, inputSha256);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Invalid("the document does not parse: " + ex.Message);
        }
    }

    private static BoundingBox Box(JsonElement e)
    {
        var n = e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
        return n.Length == 4 ? new BoundingBox(n[0], n[1], n[2], n[3]) : throw new FormatException("a box is not four numbers");
    }

    private static NitroEnclaveException Mismatch(string message) => new(ConfidentialResultErrors.Mismatch, ErrorKind.InvalidData, message);

    private static NitroEnclaveException Invalid(string detail) => new(ConfidentialResultErrors.Invalid, ErrorKind.InvalidData, "The confidential result is invalid: " + detail + ".");
}
