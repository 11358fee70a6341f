using System.Globalization;
using System.Text.Json;

namespace NitroEnclave.Protocol;

/// <summary>
/// The plaintext of a confidential result and the encryption context that binds it to its input (docs/protocol.md,
/// "Confidential results"). The result is UTF-8 JSON, version 1:
/// <c>{"format": "NitroEnclave.DetectionResult", "version": 1, "input": {"name", "sha256"}, "model", "imageWidth",
/// "imageHeight", "objects": [{"label", "classId", "score", "box": [4], "pixelBox": [4]}], "timings": {stage: ms}}</c>.
/// JSON rather than the wire's CBOR, so a data owner can read a result with any AWS Encryption SDK tool.
/// </summary>
public static class ConfidentialResultFormat
{
    public const string FormatName = "NitroEnclave.DetectionResult";
    public const int Version = 1;

    /// <summary>Encryption context key: what the message holds (<see cref="ResultContent"/> or <see cref="AnnotatedImageContent"/>).</summary>
    public const string ContentKey = "nitroenclave:content";

    /// <summary>Encryption context key: the input's name as the parent gave it.</summary>
    public const string InputNameKey = "nitroenclave:input-name";

    /// <summary>Encryption context key: SHA-256 (lowercase hex) of the encrypted input, computed inside the enclave.</summary>
    public const string InputSha256Key = "nitroenclave:input-sha256";

    /// <summary>
    /// Encryption context key of an input (set by the data owner with Protect-EnclaveFile -EncryptionContext): the key
    /// ARN its result must be encrypted to. The enclave then refuses an open result and any other result key.
    /// </summary>
    public const string RequiredResultKeyKey = "nitroenclave:result-key";

    public const string ResultContent = "detection-result/1";
    public const string AnnotatedImageContent = "annotated-image/jpeg";

    /// <summary>The encryption context of one of the messages for an input.</summary>
    public static Dictionary<string, string> EncryptionContext(string content, string inputName, string inputSha256) => new(StringComparer.Ordinal)
    {
        [ContentKey] = content,
        [InputNameKey] = inputName,
        [InputSha256Key] = inputSha256,
    };

    /// <summary>Writes the result document.</summary>
    public static byte[] Write(string inputName, string inputSha256, string model, int imageWidth, int imageHeight, IReadOnlyList<DetectedObject> objects, IReadOnlyDictionary<string, double> timings)
    {
        ArgumentNullException.ThrowIfNull(objects);
        ArgumentNullException.ThrowIfNull(timings);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", Version);
            w.WriteStartObject("input");
            w.WriteString("name", inputName);
            w.WriteString("sha256", inputSha256);
            w.WriteEndObject();
            w.WriteString("model", model);
            w.WriteNumber("imageWidth", imageWidth);
            w.WriteNumber("imageHeight", imageHeight);
            w.WriteStartArray("objects");
            foreach (var o in objects)
            {
                w.WriteStartObject();
                w.WriteString("label", o.Label);
                w.WriteNumber("classId", o.ClassId);
                w.WriteNumber("score", o.Score);
                WriteBox(w, "box", o.Box);
                WriteBox(w, "pixelBox", o.PixelBox);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("timings");
            foreach (var (stage, ms) in timings)
            {
                w.WriteNumber(stage, Math.Round(ms, 3));
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Lowercase hex SHA-256, the form the encryption context carries.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> data) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data)).ToLower(CultureInfo.InvariantCulture);

    private static void WriteBox(Utf8JsonWriter w, string name, BoundingBox box)
    {
        w.WriteStartArray(name);
        w.WriteNumberValue(box.XMin);
        w.WriteNumberValue(box.YMin);
        w.WriteNumberValue(box.XMax);
        w.WriteNumberValue(box.YMax);
        w.WriteEndArray();
    }
}
