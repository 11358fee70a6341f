namespace NitroEnclave.HelpBuilder;

/// <summary>A block of help text: a paragraph, a list item, or a fenced code sample (kept verbatim).</summary>
internal sealed record Block(BlockKind Kind, string Text);

internal enum BlockKind
{
    Paragraph,
    ListItem,
    Code,
}

/// <summary>A "## " section or a "### " item inside one: its heading, its own blocks, and its items.</summary>
internal sealed class Section(string heading, int line)
{
    public string Heading { get; } = heading;

    public int Line { get; } = line;

    public List<Block> Blocks { get; } = [];

    public List<Section> Items { get; } = [];
}

/// <summary>A parsed help source: the "# " title and its "## " sections.</summary>
internal sealed class HelpDocument(string path, string title, IReadOnlyList<Section> sections)
{
    public string Path { get; } = path;

    public string Title { get; } = title;

    public IReadOnlyList<Section> Sections { get; } = sections;

    public Section? Find(string heading) =>
        Sections.FirstOrDefault(s => string.Equals(s.Heading, heading, StringComparison.OrdinalIgnoreCase));
}

/// <summary>A mistake in a help source, reported as file(line): message so editors can jump to it.</summary>
internal sealed class HelpSourceException(string path, int line, string message)
    : Exception($"{path}({line}): error HELP001: {message}");

/// <summary>
/// Reads the small Markdown subset the help sources use: one "# " title, "## " sections, "### " items, paragraphs
/// (consecutive lines joined), "- " list items and ``` fenced code. Anything else is an error, so a typo in a heading
/// cannot silently drop text from the help.
/// </summary>
internal static class HelpMarkdown
{
    private const string Fence = "```";

    public static HelpDocument Parse(string path, string text)
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        string? title = null;
        var sections = new List<Section>();
        Section? section = null;
        Section? item = null;
        var paragraph = new List<string>();
        BlockKind paragraphKind = BlockKind.Paragraph;

        void Flush()
        {
            if (paragraph.Count > 0)
            {
                Target().Blocks.Add(new Block(paragraphKind, string.Join(' ', paragraph)));
                paragraph.Clear();
            }
        }

        Section Target() => item ?? section ?? throw new HelpSourceException(path, 1, "Text before the first '## ' section.");

        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd();
            var number = i + 1;
            if (line.StartsWith(Fence, StringComparison.Ordinal))
            {
                Flush();
                var owner = Target();
                var code = new List<string>();
                for (i++; i < lines.Length && !lines[i].TrimEnd().StartsWith(Fence, StringComparison.Ordinal); i++)
                {
                    code.Add(lines[i].TrimEnd());
                }

                if (i == lines.Length)
                {
                    throw new HelpSourceException(path, number, "A code block is not closed with ```.");
                }

                owner.Blocks.Add(new Block(BlockKind.Code, string.Join('\n', code)));
            }
            else if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                if (title is not null)
                {
                    throw new HelpSourceException(path, number, "Only one '# ' title is allowed.");
                }

                title = line[2..].Trim();
            }
            else if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                Flush();
                item = null;
                section = new Section(line[3..].Trim(), number);
                sections.Add(section);
            }
            else if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                Flush();
                item = new Section(line[4..].Trim(), number);
                (section ?? throw new HelpSourceException(path, number, "A '### ' item outside any '## ' section.")).Items.Add(item);
            }
            else if (line.StartsWith('#'))
            {
                throw new HelpSourceException(path, number, $"Unsupported heading '{line}'.");
            }
            else if (line.Length == 0)
            {
                Flush();
            }
            else if (line.StartsWith("- ", StringComparison.Ordinal))
            {
                Flush();
                paragraphKind = BlockKind.ListItem;
                paragraph.Add(line[2..].Trim());
            }
            else
            {
                if (paragraph.Count == 0)
                {
                    paragraphKind = BlockKind.Paragraph;
                }

                paragraph.Add(line.Trim());
            }
        }

        Flush();
        return new HelpDocument(path, title ?? throw new HelpSourceException(path, 1, "The file has no '# ' title."), sections);
    }
}
