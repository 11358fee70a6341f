using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace NitroEnclave.KmsPolicy;

/// <summary>What an edit did to the project's statements.</summary>
public enum EnclavePolicyChange
{
    /// <summary>The policy already held exactly these statements (or, for a removal, none of them).</summary>
    NoChange,
    Added,
    Replaced,
    Removed,
}

/// <summary>The result of editing a key policy: the old and new text and what changed.</summary>
public sealed class KeyPolicyEdit
{
    internal KeyPolicyEdit(string originalText, string policyText, EnclavePolicyChange change, bool reformatted)
    {
        OriginalText = originalText;
        PolicyText = policyText;
        Change = change;
        Reformatted = reformatted;
    }

    public string OriginalText { get; }

    public string PolicyText { get; }

    public EnclavePolicyChange Change { get; }

    public bool IsChanged => Change != EnclavePolicyChange.NoChange;

    /// <summary>
    /// True when the whole document had to be rewritten (indented, two-space style) because it had no Statement array
    /// to splice into; otherwise every byte outside the project's statements is kept.
    /// </summary>
    public bool Reformatted { get; }

    /// <summary>The changed lines, "-" removed and "+" added, with line numbers.</summary>
    public string Diff => LineDiff.Format(OriginalText, PolicyText);
}

/// <summary>
/// Adds, replaces or removes the project's statements (<see cref="EnclavePolicyStatements"/>) in a key policy's JSON
/// text. The new statements are spliced into the original text in the style of the statements already there, so every
/// other statement and all the formatting around them stay byte-for-byte. A policy whose Statement is missing or is a
/// single object is first rewritten with an indented layout (then <see cref="KeyPolicyEdit.Reformatted"/> is true).
/// </summary>
public static class EnclavePolicyEditor
{
    private static readonly JsonWriterOptions ReformatOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Puts the statements <paramref name="settings"/> describe in place of the project's current ones.</summary>
    public static KeyPolicyEdit Apply(string policyText, EnclavePolicySettings settings)
    {
        ArgumentNullException.ThrowIfNull(policyText);
        ArgumentNullException.ThrowIfNull(settings);
        using var document = Parse(policyText);
        var existing = ProjectStatements(document.RootElement);
        var principals = settings.Principals.Count > 0 ? settings.Principals : ExistingAllowPrincipals(existing);
        var wanted = EnclavePolicyStatements.Build(settings, principals);
        if (SameStatements(existing, wanted))
        {
            return new KeyPolicyEdit(policyText, policyText, EnclavePolicyChange.NoChange, reformatted: false);
        }

        var (text, reformatted) = Splice(policyText, document.RootElement, wanted);
        return new KeyPolicyEdit(policyText, text, existing.Count == 0 ? EnclavePolicyChange.Added : EnclavePolicyChange.Replaced, reformatted);
    }

    /// <summary>Takes the project's statements out; everything else stays.</summary>
    public static KeyPolicyEdit Remove(string policyText)
    {
        ArgumentNullException.ThrowIfNull(policyText);
        using var document = Parse(policyText);
        if (ProjectStatements(document.RootElement).Count == 0)
        {
            return new KeyPolicyEdit(policyText, policyText, EnclavePolicyChange.NoChange, reformatted: false);
        }

        var (text, reformatted) = Splice(policyText, document.RootElement, []);
        return new KeyPolicyEdit(policyText, text, EnclavePolicyChange.Removed, reformatted);
    }

    /// <summary>Parses a key policy, refusing anything that is not a JSON object.</summary>
    internal static JsonDocument Parse(string policyText)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(policyText);
        }
        catch (JsonException exception)
        {
            throw new NitroEnclaveException(KeyPolicyErrors.PolicyInvalid, ErrorKind.InvalidData,
                $"The key policy is not valid JSON (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1}).", exception);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new NitroEnclaveException(KeyPolicyErrors.PolicyInvalid, ErrorKind.InvalidData, "The key policy is not a JSON object.");
        }

        return document;
    }

    /// <summary>The policy's statements whether Statement is an array or a single object; none when it is missing.</summary>
    internal static List<JsonElement> Statements(JsonElement root)
    {
        if (!root.TryGetProperty("Statement", out var statement))
        {
            return [];
        }

        return statement.ValueKind switch
        {
            JsonValueKind.Array => [.. statement.EnumerateArray()],
            JsonValueKind.Object => [statement],
            _ => throw new NitroEnclaveException(KeyPolicyErrors.PolicyInvalid, ErrorKind.InvalidData, "The key policy's Statement is neither an array nor an object."),
        };
    }

    internal static string? SidOf(JsonElement statement) =>
        statement.ValueKind == JsonValueKind.Object && statement.TryGetProperty("Sid", out var sid) && sid.ValueKind == JsonValueKind.String
            ? sid.GetString()
            : null;

    private static List<JsonElement> ProjectStatements(JsonElement root) =>
        [.. Statements(root).Where(s => EnclavePolicyStatements.IsProjectSid(SidOf(s)))];

    private static List<string> ExistingAllowPrincipals(List<JsonElement> existing)
    {
        var allow = existing.FirstOrDefault(s => SidOf(s) is EnclavePolicyStatements.AllowSid or EnclavePolicyStatements.ResultAllowSid);
        if (allow.ValueKind != JsonValueKind.Object
            || !allow.TryGetProperty("Principal", out var principal)
            || principal.ValueKind != JsonValueKind.Object
            || !principal.TryGetProperty("AWS", out var aws))
        {
            return [];
        }

        return aws.ValueKind switch
        {
            JsonValueKind.String => [aws.GetString()!],
            JsonValueKind.Array => [.. aws.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)],
            _ => [],
        };
    }

    /// <summary>Same statements regardless of order, layout, or a single value written as a one-element array.</summary>
    private static bool SameStatements(List<JsonElement> existing, List<PolicyStatementSpec> wanted)
    {
        if (existing.Count != wanted.Count)
        {
            return false;
        }

        var compact = new StatementStyle(false, string.Empty, string.Empty, ":");
        var wantedForms = wanted.Select(spec =>
        {
            using var parsed = JsonDocument.Parse(StatementWriter.Write(spec, compact));
            return PolicyCanonical.Form(parsed.RootElement);
        });
        return existing.Select(PolicyCanonical.Form).Order(StringComparer.Ordinal)
            .SequenceEqual(wantedForms.Order(StringComparer.Ordinal), StringComparer.Ordinal);
    }

    private static (string Text, bool Reformatted) Splice(string policyText, JsonElement root, List<PolicyStatementSpec> wanted)
    {
        var bytes = Encoding.UTF8.GetBytes(policyText);
        var layout = PolicyLayout.Find(bytes);
        if (layout is not null)
        {
            return (Splice(layout, Statements(root), wanted), false);
        }

        var rewritten = Reformat(root);
        using var document = JsonDocument.Parse(rewritten);
        var rewrittenLayout = PolicyLayout.Find(rewritten) ?? throw new InvalidOperationException("A rewritten policy always has a Statement array.");
        return (Splice(rewrittenLayout, Statements(document.RootElement), wanted), true);
    }

    private static string Splice(PolicyLayout layout, List<JsonElement> statements, List<PolicyStatementSpec> wanted)
    {
        var style = layout.Style();
        var elements = layout.Elements;
        var kept = Enumerable.Range(0, elements.Count).Where(i => !EnclavePolicyStatements.IsProjectSid(SidOf(statements[i]))).ToList();

        // Between two statements: the original separator where there is one (", " in KMS's layout, ",\n  " in others).
        var separator = Enumerable.Range(1, Math.Max(0, elements.Count - 1))
            .Select(i => layout.Text(elements[i - 1].End, elements[i].Start))
            .FirstOrDefault()
            ?? (style.Multiline && elements.Count > 0 && layout.Text(layout.ArrayStart + 1, elements[0].Start).Contains('\n', StringComparison.Ordinal)
                ? "," + layout.Text(layout.ArrayStart + 1, elements[0].Start)
                : style.Multiline ? ", " : "," + style.ArrayPadding);
        var (lead, trail) = elements.Count > 0
            ? (layout.Text(layout.ArrayStart + 1, elements[0].Start), layout.Text(elements[^1].End, layout.ArrayEnd))
            : style.Multiline
                ? ("\n" + style.Indent, "\n" + (layout.LineIndent(layout.NameStart) ?? string.Empty))
                : (style.ArrayPadding, style.ArrayPadding);

        var parts = new List<string>();
        foreach (var index in kept)
        {
            var before = parts.Count == 0 ? string.Empty : index > 0 ? layout.Text(elements[index - 1].End, elements[index].Start) : separator;
            parts.Add(before + layout.Text(elements[index].Start, elements[index].End));
        }

        foreach (var statement in wanted)
        {
            parts.Add((parts.Count == 0 ? string.Empty : separator) + StatementWriter.Write(statement, style));
        }

        var text = new StringBuilder();
        text.Append(layout.Text(0, layout.ArrayStart + 1));
        if (parts.Count > 0)
        {
            text.Append(lead).AppendJoin(string.Empty, parts).Append(trail);
        }

        text.Append(layout.Text(layout.ArrayEnd, layout.Bytes.Length));
        return text.ToString();
    }

    /// <summary>The document with Statement as an array (empty when it was missing), indented.</summary>
    private static byte[] Reformat(JsonElement root)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, ReformatOptions))
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                if (property.Name == "Statement")
                {
                    writer.WriteStartArray();
                    property.Value.WriteTo(writer);
                    writer.WriteEndArray();
                }
                else
                {
                    property.Value.WriteTo(writer);
                }
            }

            if (!root.TryGetProperty("Statement", out _))
            {
                writer.WritePropertyName("Statement");
                writer.WriteStartArray();
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }
}
