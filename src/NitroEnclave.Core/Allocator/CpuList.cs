using System.Globalization;
using System.Text;

namespace NitroEnclave.Allocator;

/// <summary>
/// The Linux CPU list format used by cpu_pool and by /sys (online, thread_siblings_list): comma-separated CPU numbers
/// and inclusive ranges, e.g. <c>2,3,6-9</c>.
/// </summary>
public static class CpuList
{
    /// <summary>Parses a CPU list into its sorted, distinct CPU numbers; null when the text is not a valid list.</summary>
    public static SortedSet<int>? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var cpus = new SortedSet<int>();
        foreach (var part in text.Split(','))
        {
            var item = part.Trim();
            var dash = item.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                if (!TryParseCpu(item, out var cpu))
                {
                    return null;
                }

                cpus.Add(cpu);
                continue;
            }

            if (!TryParseCpu(item[..dash], out var first) || !TryParseCpu(item[(dash + 1)..], out var last) || last < first)
            {
                return null;
            }

            for (var cpu = first; cpu <= last; cpu++)
            {
                cpus.Add(cpu);
            }
        }

        return cpus;
    }

    /// <summary>Writes CPUs in the canonical form: ascending, runs of three or more as ranges (2,3,6-9).</summary>
    public static string Format(IEnumerable<int> cpus)
    {
        ArgumentNullException.ThrowIfNull(cpus);
        var sorted = cpus.Distinct().Order().ToList();
        var text = new StringBuilder();
        for (var i = 0; i < sorted.Count;)
        {
            var end = i;
            while (end + 1 < sorted.Count && sorted[end + 1] == sorted[end] + 1)
            {
                end++;
            }

            if (end - i >= 2)
            {
                Append(text, $"{sorted[i]}-{sorted[end]}");
                i = end + 1;
            }
            else
            {
                Append(text, sorted[i].ToString(CultureInfo.InvariantCulture));
                i++;
            }
        }

        return text.ToString();
    }

    private static void Append(StringBuilder text, string item)
    {
        if (text.Length > 0)
        {
            text.Append(',');
        }

        text.Append(item);
    }

    // Plain decimal digits only: the allocator does not accept signs, spaces inside numbers or other bases.
    private static bool TryParseCpu(string text, out int cpu)
    {
        cpu = 0;
        return text.Length is > 0 and <= 6 && text.All(char.IsAsciiDigit) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out cpu);
    }
}
