using System.Text;
using System.Text.Json;

namespace NitroEnclave.KmsPolicy;

/// <summary>
/// Where the Statement array and each of its elements sit in a policy's UTF-8 text, found with Utf8JsonReader
/// (JsonDocument does not report offsets), so an edit can splice text between elements and keep the rest as it is.
/// </summary>
internal sealed class PolicyLayout
{
    private PolicyLayout(byte[] bytes, int nameStart, int arrayStart, int arrayEnd, List<(int Start, int End)> elements, string colon)
    {
        Bytes = bytes;
        NameStart = nameStart;
        ArrayStart = arrayStart;
        ArrayEnd = arrayEnd;
        Elements = elements;
        Colon = colon;
    }

    public byte[] Bytes { get; }

    /// <summary>Offset of the "Statement" property name.</summary>
    public int NameStart { get; }

    /// <summary>Offset of the array's '['.</summary>
    public int ArrayStart { get; }

    /// <summary>Offset of the array's ']'.</summary>
    public int ArrayEnd { get; }

    /// <summary>Each element's first byte and the byte after its last.</summary>
    public IReadOnlyList<(int Start, int End)> Elements { get; }

    /// <summary>The text between a property name and its value in this document, such as " : " or ": ".</summary>
    public string Colon { get; }

    /// <summary>
    /// The layout of <paramref name="bytes"/> (a JSON object already known to parse), or null when the document has no
    /// Statement array.
    /// </summary>
    public static PolicyLayout? Find(byte[] bytes)
    {
        var reader = new Utf8JsonReader(bytes);
        reader.Read();
        PolicyLayout? found = null;
        var statementCount = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var isStatement = reader.ValueTextEquals("Statement"u8);
            var nameStart = (int)reader.TokenStartIndex;
            reader.Read();
            if (isStatement && ++statementCount > 1)
            {
                throw new NitroEnclaveException(KeyPolicyErrors.PolicyInvalid, ErrorKind.InvalidData, "The key policy has more than one Statement element.");
            }

            if (!isStatement || reader.TokenType != JsonTokenType.StartArray)
            {
                reader.Skip();
                continue;
            }

            // The reader's position after a property name already includes the ':', so take the name's closing quote.
            var arrayStart = (int)reader.TokenStartIndex;
            var nameEnd = Array.LastIndexOf(bytes, (byte)'"', arrayStart) + 1;
            var colon = Encoding.UTF8.GetString(bytes, nameEnd, arrayStart - nameEnd);
            var elements = new List<(int, int)>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                elements.Add((start, (int)reader.BytesConsumed));
            }

            found = new PolicyLayout(bytes, nameStart, arrayStart, (int)reader.TokenStartIndex, elements, colon);
        }

        return found;
    }

    /// <summary>The style to write new statements in, read from the first existing statement and the "Statement" line.</summary>
    public StatementStyle Style()
    {
        var colon = Colon.Trim().Length == 0 ? ": " : Colon;
        var arrayText = Encoding.UTF8.GetString(Bytes, ArrayStart, ArrayEnd - ArrayStart);
        var multiline = Elements.Count > 0 ? arrayText.Contains('\n', StringComparison.Ordinal) : Bytes.Contains((byte)'\n');
        if (!multiline)
        {
            return new StatementStyle(false, string.Empty, string.Empty, colon);
        }

        var statementLineIndent = LineIndent(NameStart) ?? string.Empty;
        if (Elements.Count > 0 && Bytes[Elements[0].Start] == (byte)'{')
        {
            var (start, end) = Elements[0];
            var closing = LineIndent(end - 1);
            var firstMember = start + 1;
            while (firstMember < end && Bytes[firstMember] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                firstMember++;
            }

            var memberIndent = LineIndent(firstMember);
            if (closing is not null && memberIndent is not null && memberIndent.Length > closing.Length && memberIndent.StartsWith(closing, StringComparison.Ordinal))
            {
                return new StatementStyle(true, closing, memberIndent[closing.Length..], colon);
            }
        }

        return new StatementStyle(true, statementLineIndent + "  ", "  ", colon);
    }

    /// <summary>The whitespace before <paramref name="offset"/> on its line, or null when other text precedes it there.</summary>
    public string? LineIndent(int offset)
    {
        var lineStart = offset;
        while (lineStart > 0 && Bytes[lineStart - 1] is (byte)' ' or (byte)'\t')
        {
            lineStart--;
        }

        return lineStart == 0 || Bytes[lineStart - 1] == (byte)'\n'
            ? Encoding.UTF8.GetString(Bytes, lineStart, offset - lineStart)
            : null;
    }

    public string Text(int start, int end) => Encoding.UTF8.GetString(Bytes, start, end - start);
}
