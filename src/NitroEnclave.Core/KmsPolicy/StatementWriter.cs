using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace NitroEnclave.KmsPolicy;

/// <summary>
/// How the statements of a policy are laid out, so statements spliced in look like their neighbours:
/// KMS's own style (<c>"Sid" : "x"</c>, <c>[ {</c>), System.Text.Json's (<c>"Sid": "x"</c>), or one line.
/// </summary>
internal sealed record StatementStyle(bool Multiline, string Indent, string Unit, string Colon)
{
    /// <summary>Between two items of an inline array, and around its contents.</summary>
    public string ArrayPadding => Colon.EndsWith(' ') ? " " : string.Empty;

    public string ItemSeparator => Multiline || Colon.EndsWith(' ') ? ", " : ",";
}

/// <summary>Writes a project statement as JSON text in a given style; strings are escaped the way JSON requires and no more.</summary>
internal static class StatementWriter
{
    private static readonly JavaScriptEncoder Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    public static string Write(PolicyStatementSpec statement, StatementStyle style)
    {
        var principal = statement.Principals is null
            ? (object)"*"
            : new List<(string, object)> { ("AWS", statement.Principals.Count == 1 ? statement.Principals[0] : statement.Principals) };
        var conditionValues = statement.Conditions
            .GroupBy(c => c.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Count() == 1 ? g.First().Value : (object)(IReadOnlyList<string>)[.. g.Select(c => c.Value)]))
            .ToList();
        var members = new List<(string, object)>
        {
            ("Sid", statement.Sid),
            ("Effect", statement.Effect),
            ("Principal", principal),
            ("Action", statement.Actions),
            ("Resource", "*"),
        };
        if (conditionValues.Count > 0)
        {
            members.Add(("Condition", new List<(string, object)> { (statement.Operator, conditionValues) }));
        }

        var text = new StringBuilder();
        WriteObject(text, members, style, style.Indent);
        return text.ToString();
    }

    private static void WriteObject(StringBuilder text, List<(string Name, object Value)> members, StatementStyle style, string indent)
    {
        var inner = indent + style.Unit;
        text.Append('{');
        for (var i = 0; i < members.Count; i++)
        {
            text.Append(i == 0 ? string.Empty : ",");
            text.Append(style.Multiline ? "\n" + inner : string.Empty);
            text.Append(Quote(members[i].Name)).Append(style.Colon);
            switch (members[i].Value)
            {
                case string value:
                    text.Append(Quote(value));
                    break;
                case IReadOnlyList<string> values:
                    text.Append('[').Append(style.ArrayPadding)
                        .AppendJoin(style.ItemSeparator, values.Select(Quote))
                        .Append(style.ArrayPadding).Append(']');
                    break;
                case List<(string, object)> nested:
                    WriteObject(text, nested, style, inner);
                    break;
                default:
                    throw new InvalidOperationException("Unsupported statement member.");
            }
        }

        text.Append(style.Multiline ? "\n" + indent : string.Empty).Append('}');
    }

    private static string Quote(string value) => "\"" + JsonEncodedText.Encode(value, Encoder) + "\"";
}
