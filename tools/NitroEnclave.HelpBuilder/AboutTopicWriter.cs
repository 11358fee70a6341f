using System.Text;

namespace NitroEnclave.HelpBuilder;

/// <summary>
/// Writes an about_*.help.txt topic in the layout Get-Help shows as is: headings in capitals at the margin,
/// text wrapped at 80 columns and indented, code indented further.
/// </summary>
internal static class AboutTopicWriter
{
    private const int Width = 80;

    public static string Render(HelpDocument topic)
    {
        var text = new StringBuilder();
        text.Append("TOPIC\n    ").Append(topic.Title).Append("\n\n");
        foreach (var section in topic.Sections)
        {
            text.Append(section.Heading.ToUpperInvariant()).Append('\n');
            WriteBlocks(text, section.Blocks);
            foreach (var item in section.Items)
            {
                text.Append("  ").Append(item.Heading).Append('\n');
                WriteBlocks(text, item.Blocks);
            }
        }

        return text.ToString();
    }

    private static void WriteBlocks(StringBuilder text, IEnumerable<Block> blocks)
    {
        foreach (var block in blocks)
        {
            switch (block.Kind)
            {
                case BlockKind.Code:
                    foreach (var line in block.Text.Split('\n'))
                    {
                        text.Append(line.Length == 0 ? string.Empty : "        " + line).Append('\n');
                    }

                    break;
                case BlockKind.ListItem:
                    Wrap(text, block.Text, "    - ", "      ");
                    break;
                default:
                    Wrap(text, block.Text, "    ", "    ");
                    break;
            }

            text.Append('\n');
        }
    }

    private static void Wrap(StringBuilder text, string paragraph, string firstIndent, string indent)
    {
        var line = new StringBuilder(firstIndent);
        var empty = true;
        foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > Width)
            {
                text.Append(line).Append('\n');
                line.Clear().Append(indent);
                empty = true;
            }

            line.Append(empty ? string.Empty : " ").Append(word);
            empty = false;
        }

        text.Append(line).Append('\n');
    }
}
