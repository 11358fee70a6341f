using System.Text;

namespace NitroEnclave;

/// <summary>
/// A line-by-line comparison of two texts, shown the way `diff -u` marks lines (- removed, + added), so a preview
/// reads as the exact change a file or document will undergo.
/// </summary>
public static class LineDiff
{
    /// <summary>
    /// The changed lines only, each prefixed with "-" or "+" and the 1-based line number in the old or new text;
    /// empty when the texts have the same lines.
    /// </summary>
    public static IReadOnlyList<string> Changes(string oldText, string newText)
    {
        ArgumentNullException.ThrowIfNull(oldText);
        ArgumentNullException.ThrowIfNull(newText);
        var a = SplitLines(oldText);
        var b = SplitLines(newText);

        // Edits are usually a few lines: skip the common head and tail so the table below stays small.
        var head = 0;
        while (head < a.Length && head < b.Length && a[head] == b[head])
        {
            head++;
        }

        var tail = 0;
        while (tail < a.Length - head && tail < b.Length - head && a[a.Length - 1 - tail] == b[b.Length - 1 - tail])
        {
            tail++;
        }

        var n = a.Length - head - tail;
        var m = b.Length - head - tail;
        var lcs = new int[n + 1, m + 1];
        for (var i = n - 1; i >= 0; i--)
        {
            for (var j = m - 1; j >= 0; j--)
            {
                lcs[i, j] = a[head + i] == b[head + j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var changes = new List<string>();
        int x = 0, y = 0;
        while (x < n || y < m)
        {
            if (x < n && y < m && a[head + x] == b[head + y])
            {
                x++;
                y++;
            }
            else if (x < n && (y == m || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                changes.Add($"-{head + x + 1,4}: {a[head + x]}");
                x++;
            }
            else
            {
                changes.Add($"+{head + y + 1,4}: {b[head + y]}");
                y++;
            }
        }

        return changes;
    }

    /// <summary>The changes as one block of text, one line each.</summary>
    public static string Format(string oldText, string newText)
    {
        var text = new StringBuilder();
        foreach (var line in Changes(oldText, newText))
        {
            text.Append(line).Append('\n');
        }

        return text.ToString();
    }

    private static string[] SplitLines(string text)
    {
        if (text.Length == 0)
        {
            return [];
        }

        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }
}
