using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace NitroEnclave.Allocator;

/// <summary>
/// allocator.yaml as text plus the exact positions of its top-level values, found with YamlDotNet's parser events.
/// Edits change those character ranges only, so comments and layout survive.
/// </summary>
public sealed class AllocatorDocument
{
    public const string MemoryKey = "memory_mib";
    public const string CpuCountKey = "cpu_count";
    public const string CpuPoolKey = "cpu_pool";

    private static readonly string[] KnownKeys = [MemoryKey, CpuCountKey, CpuPoolKey];

    private AllocatorDocument(string text, bool isFlowMapping, Dictionary<string, AllocatorEntry> entries, List<string> unknownKeys, List<string> duplicateKeys)
    {
        Text = text;
        IsFlowMapping = isFlowMapping;
        Entries = entries;
        UnknownKeys = unknownKeys;
        DuplicateKeys = duplicateKeys;
        NewLine = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
    }

    public string Text { get; }

    /// <summary>The line ending the file already uses, for inserted lines.</summary>
    public string NewLine { get; }

    /// <summary>True when the top-level mapping is written in flow style ({memory_mib: 512, ...}).</summary>
    public bool IsFlowMapping { get; }

    /// <summary>The first occurrence of each known key.</summary>
    public IReadOnlyDictionary<string, AllocatorEntry> Entries { get; }

    public IReadOnlyList<string> UnknownKeys { get; }

    public IReadOnlyList<string> DuplicateKeys { get; }

    /// <summary>The value of a known key as written (null when absent or not a scalar).</summary>
    public string? ValueOf(string key) => Entries.TryGetValue(key, out var entry) && entry.IsScalar ? entry.Value : null;

    public bool Has(string key) => Entries.ContainsKey(key);

    /// <summary>Locates the top-level keys of <paramref name="text"/>; an empty document has none.</summary>
    public static AllocatorDocument Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = new Dictionary<string, AllocatorEntry>(StringComparer.Ordinal);
        var unknown = new List<string>();
        var duplicates = new List<string>();
        var isFlow = false;
        try
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            if (parser.TryConsume<StreamEnd>(out _))
            {
                return new AllocatorDocument(text, false, entries, unknown, duplicates);
            }

            parser.Consume<DocumentStart>();
            if (parser.TryConsume<Scalar>(out var lone))
            {
                if (lone.Value.Length > 0 || lone.Style != ScalarStyle.Plain)
                {
                    throw Invalid("the document is a single value, not a mapping of settings", lone.Start);
                }
            }
            else if (parser.TryConsume<MappingStart>(out var mapping))
            {
                isFlow = mapping.Style == MappingStyle.Flow;
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    if (!parser.TryConsume<Scalar>(out var key))
                    {
                        throw Invalid("a key is not a plain name", parser.Current!.Start);
                    }

                    var entry = ReadValue(parser, text, key);
                    if (!KnownKeys.Contains(key.Value, StringComparer.Ordinal))
                    {
                        unknown.Add(key.Value);
                    }
                    else if (!entries.TryAdd(key.Value, entry))
                    {
                        duplicates.Add(key.Value);
                    }
                }
            }
            else
            {
                throw Invalid("the document is not a mapping of settings", parser.Current!.Start);
            }

            parser.Consume<DocumentEnd>();
            if (!parser.TryConsume<StreamEnd>(out _))
            {
                throw Invalid("the file holds more than one YAML document", parser.Current!.Start);
            }
        }
        catch (YamlException ex)
        {
            throw new NitroEnclaveException(AllocatorErrors.FileInvalid, ErrorKind.InvalidData, $"The allocator file is not valid YAML (line {ex.Start.Line}, column {ex.Start.Column}): {ex.Message}", ex);
        }

        return new AllocatorDocument(text, isFlow, entries, unknown, duplicates);
    }

    private static AllocatorEntry ReadValue(Parser parser, string text, Scalar key)
    {
        var keyStart = (int)key.Start.Index;
        if (parser.TryConsume<Scalar>(out var value))
        {
            var start = (int)value.Start.Index;
            var end = (int)value.End.Index;
            if (value.Value.Length == 0 && value.Style == ScalarStyle.Plain)
            {
                // An empty value ("memory_mib:") has no text of its own: its place is right after the colon.
                start = end = text.IndexOf(':', (int)key.End.Index) + 1;
            }

            return new AllocatorEntry(key.Value, keyStart, start, end, value.Value, value.Style, isScalar: true);
        }

        // A nested mapping or sequence: remember where it is, skip it.
        var nestedStart = (int)parser.Current!.Start.Index;
        var depth = 0;
        do
        {
            var current = parser.Consume<ParsingEvent>();
            depth += current.NestingIncrease;
        }
        while (depth > 0);
        return new AllocatorEntry(key.Value, keyStart, nestedStart, nestedStart, string.Empty, ScalarStyle.Any, isScalar: false);
    }

    private static YamlException Invalid(string message, Mark at) => new(at, at, message);
}

/// <summary>Where one top-level key and its value sit in the file's text.</summary>
public sealed class AllocatorEntry
{
    internal AllocatorEntry(string key, int keyStart, int valueStart, int valueEnd, string value, ScalarStyle style, bool isScalar)
    {
        Key = key;
        KeyStart = keyStart;
        ValueStart = valueStart;
        ValueEnd = valueEnd;
        Value = value;
        Style = style;
        IsScalar = isScalar;
    }

    public string Key { get; }

    public int KeyStart { get; }

    /// <summary>First character of the value as written (quotes included).</summary>
    public int ValueStart { get; }

    /// <summary>One past the value's last character.</summary>
    public int ValueEnd { get; }

    /// <summary>The value after YAML unquoting.</summary>
    public string Value { get; }

    internal ScalarStyle Style { get; }

    public bool IsScalar { get; }
}
