using System.Text.Json;

namespace NitroEnclave.Eif;

/// <summary>
/// Reads the JSON that nitro-cli build-enclave and describe-eif print, so a build's output becomes the same objects
/// as measuring the image file.
/// </summary>
public static class NitroCliJson
{
    /// <summary>Parses one nitro-cli JSON document into an image description (only the fields the output carries).</summary>
    public static EnclaveImage Parse(string json, string? path)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("Measurements", out var m) || m.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("it has no \"Measurements\" object (expected the output of nitro-cli build-enclave or describe-eif)");
            }

            var measurements = new EnclaveMeasurements(
                path,
                RequirePcr(m, "PCR0"),
                RequirePcr(m, "PCR1"),
                RequirePcr(m, "PCR2"),
                m.TryGetProperty("PCR8", out _) ? RequirePcr(m, "PCR8") : null,
                GetBool(root, "CheckCRC"));

            var isSigned = GetBool(root, "IsSigned") ?? measurements.PCR8 is not null;
            EnclaveImageBuildMetadata? build = null;
            if (root.TryGetProperty("Metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object)
            {
                build = ReadBuildMetadata(metadata);
            }

            return new EnclaveImage(
                path,
                root.TryGetProperty("EifVersion", out var v) && v.TryGetInt32(out var version) ? version : 0,
                string.Empty,
                0,
                measurements,
                measurements.CrcValid,
                null,
                null,
                isSigned,
                null,
                GetBool(root, "SignatureCheck"),
                GetString(root, "ImageName"),
                GetString(root, "ImageVersion"),
                build,
                metadata.ValueKind == JsonValueKind.Object ? GetRawJson(metadata, "DockerInfo") : null,
                metadata.ValueKind == JsonValueKind.Object ? GetRawJson(metadata, "CustomMetadata") : null,
                []);
        }
        catch (JsonException ex)
        {
            throw new NitroEnclaveException(EifErrors.InvalidNitroCliJson, ErrorKind.InvalidData, "The text is not valid nitro-cli JSON: " + ex.Message, ex);
        }
    }

    internal static EnclaveImageBuildMetadata ReadBuildMetadata(JsonElement element) => new(
        GetString(element, "BuildTime"),
        GetString(element, "BuildTool"),
        GetString(element, "BuildToolVersion"),
        GetString(element, "OperatingSystem"),
        GetString(element, "KernelVersion"));

    internal static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    internal static string? GetRawJson(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is not JsonValueKind.Null ? value.GetRawText() : null;

    private static bool? GetBool(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;

    private static string RequirePcr(JsonElement measurements, string name)
    {
        var value = GetString(measurements, name);
        if (!Pcr.IsHex384(value))
        {
            throw Invalid($"Measurements.{name} is missing or is not 96 hex digits");
        }

        return value!.ToLowerInvariant();
    }

    private static NitroEnclaveException Invalid(string detail) =>
        new(EifErrors.InvalidNitroCliJson, ErrorKind.InvalidData, "The text is not nitro-cli measurement JSON: " + detail + ".");
}

/// <summary>
/// Collects JSON text that arrives line by line (nitro-cli output piped into PowerShell) and yields each complete
/// top-level document. Tracks brace depth outside string literals.
/// </summary>
public sealed class JsonDocumentAccumulator
{
    private readonly System.Text.StringBuilder _text = new();
    private int _depth;
    private bool _inString;
    private bool _escaped;

    /// <summary>True while a document has started and not yet closed.</summary>
    public bool IsOpen => _text.Length > 0;

    /// <summary>True when <paramref name="line"/> should be handled as JSON: a document is open or the line opens one.</summary>
    public bool Accepts(string line) => IsOpen || line.TrimStart().StartsWith('{');

    /// <summary>Adds a line; returns the document text when this line completes it, else null.</summary>
    public string? Add(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        foreach (var c in line)
        {
            if (_inString)
            {
                if (_escaped)
                {
                    _escaped = false;
                }
                else if (c == '\\')
                {
                    _escaped = true;
                }
                else if (c == '"')
                {
                    _inString = false;
                }
            }
            else if (c == '"')
            {
                _inString = true;
                _escaped = false;
            }
            else if (c == '{' || c == '[')
            {
                _depth++;
            }
            else if (c == '}' || c == ']')
            {
                _depth--;
            }
        }

        _text.AppendLine(line);
        if (_depth > 0 || _inString)
        {
            return null;
        }

        var document = _text.ToString();
        _text.Clear();
        _depth = 0;
        return document;
    }
}
