using System.Text;
using System.Text.Json;

namespace NitroEnclave.KmsPolicy;

/// <summary>
/// A canonical text form of a policy element for comparing meaning, not layout: object members sorted by name, and
/// arrays treated as the sets the policy language makes them (order and duplicates ignored, one element the same as
/// the element alone).
/// </summary>
internal static class PolicyCanonical
{
    public static string Form(JsonElement element)
    {
        var text = new StringBuilder();
        Append(text, element);
        return text.ToString();
    }

    private static void Append(StringBuilder text, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                text.Append('{');
                foreach (var property in element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    text.Append(JsonEncodedText.Encode(property.Name)).Append(':');
                    Append(text, property.Value);
                    text.Append(',');
                }

                text.Append('}');
                break;
            case JsonValueKind.Array:
                var items = element.EnumerateArray().Select(Form).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
                if (items.Count == 1)
                {
                    text.Append(items[0]);
                }
                else
                {
                    text.Append('[').AppendJoin(',', items).Append(']');
                }

                break;
            case JsonValueKind.String:
                text.Append('"').Append(JsonEncodedText.Encode(element.GetString()!)).Append('"');
                break;
            default:
                text.Append(element.GetRawText());
                break;
        }
    }
}
