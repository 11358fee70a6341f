using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using static NitroEnclave.Allocator.AllocatorDocument;

namespace NitroEnclave.Allocator;

/// <summary>The settings one call wants; null leaves a setting as it is. CpuCount and CpuPool exclude each other.</summary>
public sealed class AllocatorChange
{
    public AllocatorChange(int? memoryMiB, int? cpuCount, string? cpuPool)
    {
        if (cpuCount is not null && cpuPool is not null)
        {
            throw new NitroEnclaveException(AllocatorErrors.CpuConflict, ErrorKind.InvalidArgument, "Give cpu_count or cpu_pool, not both.");
        }

        MemoryMiB = memoryMiB;
        CpuCount = cpuCount;
        CpuPool = cpuPool;
    }

    public int? MemoryMiB { get; }

    public int? CpuCount { get; }

    public string? CpuPool { get; }

    /// <summary>The keys this change sets: findings about them are errors.</summary>
    public IReadOnlySet<string> Keys
    {
        get
        {
            var keys = new HashSet<string>(StringComparer.Ordinal);
            if (MemoryMiB is not null)
            {
                keys.Add(MemoryKey);
            }

            if (CpuCount is not null)
            {
                keys.Add(CpuCountKey);
            }

            if (CpuPool is not null)
            {
                keys.Add(CpuPoolKey);
            }

            return keys;
        }
    }
}

/// <summary>
/// Applies an <see cref="AllocatorChange"/> to the file's text by replacing only the characters of the values that
/// change. Switching between cpu_count and cpu_pool comments out the other key, as the default file's note asks
/// ("cpu_count and cpu_pool conflict with each other"), and revives a commented-out line of the wanted key when it sits
/// right beside the other one (where an earlier switch left it), so switching back and forth does not pile up lines.
/// </summary>
public static partial class AllocatorEditor
{
    /// <summary>Returns the edited text and a description of each change; the text is unchanged when nothing differs.</summary>
    public static (string Text, IReadOnlyList<string> Changes) Apply(AllocatorDocument document, AllocatorChange change)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(change);
        var edit = new Edit(document);
        if (change.MemoryMiB is { } memory)
        {
            edit.Set(MemoryKey, memory.ToString(CultureInfo.InvariantCulture), afterKey: null);
        }

        if (change.CpuCount is { } count)
        {
            edit.SetCpu(CpuCountKey, count.ToString(CultureInfo.InvariantCulture), CpuPoolKey);
        }

        if (change.CpuPool is { } poolText)
        {
            var pool = CpuList.TryParse(poolText)
                ?? throw new NitroEnclaveException(AllocatorErrors.CpuPoolSyntax, ErrorKind.InvalidArgument, $"cpu_pool '{poolText}' is not a CPU list such as 2,3,6-9.");
            var current = CpuList.TryParse(document.ValueOf(CpuPoolKey));
            if (current is null || !current.SetEquals(pool))
            {
                edit.SetCpu(CpuPoolKey, CpuList.Format(pool), CpuCountKey);
            }
            else
            {
                edit.CommentOutConflict(CpuCountKey);
            }
        }

        return (edit.Result(), edit.Changes);
    }

    [GeneratedRegex(@"^(?<indent>[ \t]*)#[ \t]*(?<key>memory_mib|cpu_count|cpu_pool)[ \t]*:")]
    private static partial Regex CommentedKey();

    private sealed class Edit(AllocatorDocument document)
    {
        private readonly string _text = document.Text;
        private readonly List<(int Start, int Length, string Replacement)> _edits = [];
        private readonly StringBuilder _append = new();

        public List<string> Changes { get; } = [];

        public void Set(string key, string value, string? afterKey)
        {
            if (document.Entries.TryGetValue(key, out var entry))
            {
                if (!entry.IsScalar)
                {
                    throw Unsupported($"{key} holds a nested value; set it to a plain value by hand first");
                }

                if (entry.Value == value)
                {
                    return;
                }

                var rendered = entry.Style switch
                {
                    ScalarStyle.SingleQuoted => $"'{value}'",
                    ScalarStyle.DoubleQuoted => $"\"{value}\"",
                    _ => value,
                };
                _edits.Add((entry.ValueStart, entry.ValueEnd - entry.ValueStart, entry.ValueStart == entry.ValueEnd ? " " + rendered : rendered));
                Changes.Add($"{key}: {Describe(entry.Value)} -> {value}");
                return;
            }

            RequireBlockMapping(key);
            var line = $"{key}: {value}";
            if (afterKey is not null && document.Entries.TryGetValue(afterKey, out var anchor))
            {
                var (_, end) = SingleLine(anchor);
                _edits.Add((end, 0, document.NewLine + IndentOf(anchor) + line));
            }
            else
            {
                if (_append.Length == 0 && _text.Length > 0 && !_text.EndsWith('\n'))
                {
                    _append.Append(document.NewLine);
                }

                _append.Append(line).Append(document.NewLine);
            }

            Changes.Add($"{key}: added with {value}");
        }

        /// <summary>Sets one CPU key and makes sure the other one is no longer in effect.</summary>
        public void SetCpu(string key, string value, string otherKey)
        {
            if (document.Has(key) || !document.Entries.TryGetValue(otherKey, out var other))
            {
                Set(key, value, afterKey: MemoryKey);
                CommentOutConflict(otherKey);
                return;
            }

            RequireBlockMapping(key);
            var (start, end) = SingleLine(other);
            var lineStart = LineStart(start);
            var previous = lineStart > 0 ? LineSpan(LineStart(lineStart - 1)) : ((int Start, int End)?)null;
            var next = end < _text.Length ? LineSpan(NextLineStart(end)) : ((int Start, int End)?)null;
            var revived = new[] { previous, next }.FirstOrDefault(span => span is { } s && IsCommentedKey(s, key));
            var line = $"{IndentOf(other)}{key}: {value}";
            if (revived is { } spot)
            {
                _edits.Add((spot.Start, spot.End - spot.Start, line));
            }
            else
            {
                _edits.Add((end, 0, document.NewLine + line));
            }

            CommentOut(other);
            Changes.Add($"{key}: set to {value} instead of {otherKey}");
        }

        public void CommentOutConflict(string otherKey)
        {
            if (document.Entries.TryGetValue(otherKey, out var other))
            {
                RequireBlockMapping(otherKey);
                CommentOut(other);
            }
        }

        public string Result()
        {
            var text = new StringBuilder(_text);
            text.Append(_append);
            // Back to front so earlier positions stay valid; at one position the later edit goes in first, ending up after.
            foreach (var (start, length, replacement) in _edits.Select((e, i) => (e, i)).OrderByDescending(x => x.e.Start).ThenByDescending(x => x.i).Select(x => x.e))
            {
                text.Remove(start, length).Insert(start, replacement);
            }

            return text.ToString();
        }

        private void CommentOut(AllocatorEntry entry)
        {
            SingleLine(entry);
            _edits.Add((entry.KeyStart, 0, "# "));
            Changes.Add($"{entry.Key}: commented out (was {Describe(entry.Value)})");
        }

        private void RequireBlockMapping(string key)
        {
            if (document.IsFlowMapping)
            {
                throw Unsupported($"the settings are written as a flow mapping {{...}}, so {key} cannot be added or commented out line by line");
            }
        }

        /// <summary>The span from the key's line start to the end of that line; the entry must not span lines.</summary>
        private (int Start, int End) SingleLine(AllocatorEntry entry)
        {
            var start = LineStart(entry.KeyStart);
            var end = LineEnd(entry.KeyStart);
            if (entry.ValueEnd > end || _text.AsSpan(start, entry.KeyStart - start).Trim(" \t").Length > 0)
            {
                throw Unsupported($"{entry.Key} does not sit on a line of its own");
            }

            return (start, end);
        }

        private string IndentOf(AllocatorEntry entry) => _text[LineStart(entry.KeyStart)..entry.KeyStart];

        private bool IsCommentedKey((int Start, int End) span, string key)
        {
            var match = CommentedKey().Match(_text[span.Start..span.End]);
            return match.Success && match.Groups["key"].Value == key;
        }

        private int LineStart(int index) => index == 0 ? 0 : _text.LastIndexOf('\n', index - 1) + 1;

        private int LineEnd(int index)
        {
            var newline = _text.IndexOf('\n', index);
            if (newline < 0)
            {
                return _text.Length;
            }

            return newline > 0 && _text[newline - 1] == '\r' ? newline - 1 : newline;
        }

        private int NextLineStart(int lineEnd)
        {
            var newline = _text.IndexOf('\n', lineEnd);
            return newline < 0 ? _text.Length : newline + 1;
        }

        private (int Start, int End) LineSpan(int lineStart) => (lineStart, LineEnd(lineStart));

        private static string Describe(string value) => value.Length == 0 ? "empty" : value;

        private static NitroEnclaveException Unsupported(string detail) =>
            new(AllocatorErrors.LayoutUnsupported, ErrorKind.InvalidOperation, $"The allocator file cannot be edited in place: {detail}.");
    }
}
