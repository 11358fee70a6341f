using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml;

namespace NitroEnclave.HelpBuilder;

/// <summary>
/// Writes the MAML file PowerShell reads for binary cmdlets (&lt;assembly&gt;-Help.xml): prose from the help sources,
/// syntax and parameter attributes from the cmdlet metadata.
/// </summary>
internal static partial class MamlWriter
{
    private const string Msh = "http://msh";
    private const string Maml = "http://schemas.microsoft.com/maml/2004/10";
    private const string Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private const string Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    /// <summary>The help of the parameters ShouldProcess adds, so sources need not repeat it.</summary>
    private static readonly Dictionary<string, string> ShouldProcessParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        ["WhatIf"] = "Shows what would happen if the cmdlet runs. The cmdlet is not run.",
        ["Confirm"] = "Prompts you for confirmation before running the cmdlet.",
    };

    /// <param name="shared">Descriptions of parameters several cmdlets share (the AWS ones), used when a cmdlet's own source has none.</param>
    public static void Write(string path, IReadOnlyList<(CmdletMetadata Cmdlet, HelpDocument Help)> commands, IReadOnlyDictionary<string, Section> shared)
    {
        var settings = new XmlWriterSettings { Indent = true, Encoding = new System.Text.UTF8Encoding(false) };
        using var writer = XmlWriter.Create(path, settings);
        writer.WriteStartDocument();
        writer.WriteStartElement("helpItems", Msh);
        writer.WriteAttributeString("schema", "maml");
        foreach (var (cmdlet, help) in commands)
        {
            WriteCommand(writer, cmdlet, help, shared);
        }

        writer.WriteEndElement();
        writer.WriteEndDocument();
    }

    private static void WriteCommand(XmlWriter w, CmdletMetadata cmdlet, HelpDocument help, IReadOnlyDictionary<string, Section> shared)
    {
        w.WriteStartElement("command", "command", Command);
        w.WriteAttributeString("xmlns", "maml", null, Maml);
        w.WriteAttributeString("xmlns", "command", null, Command);
        w.WriteAttributeString("xmlns", "dev", null, Dev);

        w.WriteStartElement("command", "details", Command);
        w.WriteElementString("command", "name", Command, cmdlet.Name);
        w.WriteElementString("command", "verb", Command, cmdlet.Verb);
        w.WriteElementString("command", "noun", Command, cmdlet.Noun);
        WriteDescription(w, help.Find("Synopsis")?.Blocks ?? []);
        w.WriteEndElement();

        WriteDescription(w, help.Find("Description")?.Blocks ?? []);

        var documented = help.Find("Parameters")?.Items.ToDictionary(i => i.Heading.TrimStart('-'), StringComparer.OrdinalIgnoreCase)
            ?? new Dictionary<string, Section>(StringComparer.OrdinalIgnoreCase);
        var parameters = Ordered(cmdlet, documented.Keys.ToList());

        w.WriteStartElement("command", "syntax", Command);
        foreach (var set in cmdlet.ParameterSets)
        {
            w.WriteStartElement("command", "syntaxItem", Command);
            w.WriteElementString("maml", "name", Maml, cmdlet.Name);
            foreach (var parameter in parameters.Where(p => p.InSet(set)))
            {
                var use = parameter.UseIn(set);
                WriteParameter(w, parameter, use.Mandatory, use.Position, PipelineInput(use.FromPipeline, use.FromPipelineByPropertyName), description: null);
            }

            w.WriteEndElement();
        }

        w.WriteEndElement();

        w.WriteStartElement("command", "parameters", Command);
        foreach (var parameter in parameters)
        {
            // One entry per parameter: required only when every set requires it; a position only when all sets agree.
            var positions = parameter.Sets.Select(s => s.Position).Distinct().ToList();
            var description = documented.TryGetValue(parameter.Name, out var text) ? text.Blocks
                : shared.TryGetValue(parameter.Name, out var common) ? common.Blocks
                : ShouldProcessParameters.TryGetValue(parameter.Name, out var standard) ? [new Block(BlockKind.Paragraph, standard)] : [];
            WriteParameter(
                w,
                parameter,
                parameter.Sets.All(s => s.Mandatory),
                positions.Count == 1 ? positions[0] : null,
                PipelineInput(parameter.Sets.Any(s => s.FromPipeline), parameter.Sets.Any(s => s.FromPipelineByPropertyName)),
                description);
        }

        // Documented parameters the cmdlet does not have stay visible, so the help test reports them.
        foreach (var (name, section) in documented.Where(d => parameters.All(p => !string.Equals(p.Name, d.Key, StringComparison.OrdinalIgnoreCase))))
        {
            var stale = new ParameterMetadata(name, "Object", "System.Object", false, false, false, [], [new ParameterSetUse(ParameterMetadata.AllSets, false, null, false, false)]);
            WriteParameter(w, stale, false, null, "False", section.Blocks);
        }

        w.WriteEndElement();

        WriteTypes(w, "inputTypes", "inputType", help.Find("Inputs")?.Items.Select(i => (i.Heading, (IReadOnlyList<Block>)i.Blocks)) ?? []);
        var outputText = help.Find("Outputs")?.Items ?? [];
        WriteTypes(w, "returnValues", "returnValue", cmdlet.OutputTypes.Select(type => (type, (IReadOnlyList<Block>)(outputText.FirstOrDefault(o => SameType(o.Heading, type))?.Blocks ?? []))));

        if (help.Find("Notes") is { } notes)
        {
            w.WriteStartElement("maml", "alertSet", Maml);
            w.WriteStartElement("maml", "alert", Maml);
            WriteParagraphs(w, notes.Blocks);
            w.WriteEndElement();
            w.WriteEndElement();
        }

        w.WriteStartElement("command", "examples", Command);
        foreach (var example in help.Find("Examples")?.Items ?? [])
        {
            w.WriteStartElement("command", "example", Command);
            w.WriteElementString("maml", "title", Maml, $"---------- {example.Heading} ----------");
            w.WriteElementString("dev", "code", Dev, example.Blocks.FirstOrDefault(b => b.Kind == BlockKind.Code)?.Text ?? string.Empty);
            w.WriteStartElement("dev", "remarks", Dev);
            WriteParagraphs(w, example.Blocks.Where(b => b.Kind != BlockKind.Code || b != example.Blocks.First(c => c.Kind == BlockKind.Code)));
            w.WriteEndElement();
            w.WriteEndElement();
        }

        w.WriteEndElement();

        w.WriteStartElement("command", "relatedLinks", Command);
        foreach (var link in help.Find("Related links")?.Blocks ?? [])
        {
            var match = LinkPattern().Match(link.Text);
            w.WriteStartElement("maml", "navigationLink", Maml);
            w.WriteElementString("maml", "linkText", Maml, match.Success ? match.Groups[1].Value : link.Text);
            w.WriteElementString("maml", "uri", Maml, match.Success ? match.Groups[2].Value : string.Empty);
            w.WriteEndElement();
        }

        w.WriteEndElement();
        w.WriteEndElement();
    }

    /// <summary>Positional parameters by position, then in the order the help source documents them, then the rest.</summary>
    private static List<ParameterMetadata> Ordered(CmdletMetadata cmdlet, List<string> documentedOrder)
    {
        int Rank(ParameterMetadata p)
        {
            var index = documentedOrder.FindIndex(d => string.Equals(d, p.Name, StringComparison.OrdinalIgnoreCase));
            return index < 0 ? int.MaxValue : index;
        }

        var parameters = cmdlet.Parameters.ToList();
        if (cmdlet.SupportsShouldProcess)
        {
            foreach (var name in new[] { "WhatIf", "Confirm" })
            {
                parameters.Add(new ParameterMetadata(name, "SwitchParameter", "System.Management.Automation.SwitchParameter", true, false, false, name == "WhatIf" ? ["wi"] : ["cf"],
                    [new ParameterSetUse(ParameterMetadata.AllSets, false, null, false, false)]));
            }
        }

        return [.. parameters
            .Select((p, i) => (p, i))
            .OrderBy(x => x.p.Sets.Min(s => s.Position) ?? int.MaxValue)
            .ThenBy(x => Rank(x.p))
            .ThenBy(x => x.i)
            .Select(x => x.p)];
    }

    private static void WriteParameter(XmlWriter w, ParameterMetadata parameter, bool required, int? position, string pipelineInput, IReadOnlyList<Block>? description)
    {
        w.WriteStartElement("command", "parameter", Command);
        w.WriteAttributeString("required", required ? "true" : "false");
        w.WriteAttributeString("variableLength", parameter.IsArray ? "true" : "false");
        w.WriteAttributeString("globbing", parameter.SupportsWildcards ? "true" : "false");
        w.WriteAttributeString("pipelineInput", pipelineInput);
        w.WriteAttributeString("position", position?.ToString(CultureInfo.InvariantCulture) ?? "named");
        w.WriteAttributeString("aliases", parameter.Aliases.Count == 0 ? "none" : string.Join(", ", parameter.Aliases));
        w.WriteElementString("maml", "name", Maml, parameter.Name);
        if (description is not null)
        {
            WriteDescription(w, description);
        }

        // A switch shows as [-Name] in a syntax line, without a value placeholder.
        if (!parameter.IsSwitch || description is not null)
        {
            w.WriteStartElement("command", "parameterValue", Command);
            w.WriteAttributeString("required", parameter.IsSwitch ? "false" : "true");
            w.WriteAttributeString("variableLength", "false");
            w.WriteString(parameter.TypeName);
            w.WriteEndElement();
        }

        w.WriteStartElement("dev", "type", Dev);
        w.WriteElementString("maml", "name", Maml, parameter.FullTypeName);
        w.WriteEndElement();
        w.WriteElementString("dev", "defaultValue", Dev, "None");
        w.WriteEndElement();
    }

    private static void WriteTypes(XmlWriter w, string listElement, string itemElement, IEnumerable<(string Type, IReadOnlyList<Block> Blocks)> types)
    {
        w.WriteStartElement("command", listElement, Command);
        foreach (var (type, blocks) in types)
        {
            w.WriteStartElement("command", itemElement, Command);
            w.WriteStartElement("dev", "type", Dev);
            w.WriteElementString("maml", "name", Maml, type);
            w.WriteEndElement();
            WriteDescription(w, blocks);
            w.WriteEndElement();
        }

        w.WriteEndElement();
    }

    private static void WriteDescription(XmlWriter w, IEnumerable<Block> blocks)
    {
        w.WriteStartElement("maml", "description", Maml);
        WriteParagraphs(w, blocks);
        w.WriteEndElement();
    }

    private static void WriteParagraphs(XmlWriter w, IEnumerable<Block> blocks)
    {
        foreach (var block in blocks)
        {
            w.WriteElementString("maml", "para", Maml, block.Kind switch
            {
                BlockKind.ListItem => "- " + block.Text,
                BlockKind.Code => Indent(block.Text),
                _ => block.Text,
            });
        }
    }

    private static string Indent(string code) => string.Join('\n', code.Split('\n').Select(l => "    " + l));

    private static string PipelineInput(bool byValue, bool byPropertyName) => (byValue, byPropertyName) switch
    {
        (true, true) => "True (ByValue, ByPropertyName)",
        (true, false) => "True (ByValue)",
        (false, true) => "True (ByPropertyName)",
        _ => "False",
    };

    private static bool SameType(string heading, string fullName) =>
        string.Equals(heading, fullName, StringComparison.Ordinal) || fullName.EndsWith("." + heading, StringComparison.Ordinal);

    [GeneratedRegex(@"^\[([^\]]+)\]\(([^)]*)\)$")]
    private static partial Regex LinkPattern();
}
