using System.Diagnostics;
using System.Management.Automation;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>Get-Help, as users call it, over the external help the module ships (built from help/src).</summary>
public sealed class HelpTests
{
    private static object? Prop(object? value, string name) =>
        value is null ? null : PSObject.AsPSObject(value).Properties[name]?.Value;

    private static string Str(object? value) => value?.ToString() ?? string.Empty;

    private static object?[] Items(object? value) => value switch
    {
        null => [],
        PSObject { BaseObject: object[] array } => array,
        object[] array => array,
        _ => [value],
    };

    private static string Text(object? paragraphs) =>
        string.Join("\n", Items(paragraphs).Select(p => Str(Prop(p, "Text")))).Trim();

    [Fact]
    public void Every_exported_cmdlet_has_a_synopsis_description_every_parameter_and_two_examples()
    {
        var result = ModuleHost.Run("""
            foreach ($name in (Get-Module NitroEnclave).ExportedCmdlets.Keys) {
                [pscustomobject]@{ Name = $name; Help = Get-Help $name -Full; Command = Get-Command $name }
            }
            """).AssertNoErrors();
        var common = System.Management.Automation.Cmdlet.CommonParameters;
        var problems = new List<string>();
        Assert.NotEmpty(result.Output);
        foreach (var entry in result.Output)
        {
            var name = Prop(entry, "Name")!.ToString()!;
            var help = Prop(entry, "Help");
            var command = (CmdletInfo)((PSObject)Prop(entry, "Command")!).BaseObject;

            // Without help, Get-Help makes a synopsis out of the syntax, which starts with the cmdlet's name.
            var synopsis = Str(Prop(help, "Synopsis")).Trim();
            if (synopsis.Length < 20 || synopsis.StartsWith(name, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{name}: no synopsis (got '{synopsis}')");
            }

            if (Text(Prop(help, "description")).Length < 40)
            {
                problems.Add($"{name}: no description");
            }

            var documented = Items(Prop(Prop(help, "parameters"), "parameter"))
                .ToDictionary(p => Prop(p, "name")!.ToString()!, StringComparer.OrdinalIgnoreCase);
            foreach (var parameter in command.Parameters.Values.Where(p => !common.Contains(p.Name)))
            {
                if (!documented.Remove(parameter.Name, out var doc))
                {
                    problems.Add($"{name}: -{parameter.Name} has no help");
                    continue;
                }

                if (Text(Prop(doc, "description")).Length < 10)
                {
                    problems.Add($"{name}: -{parameter.Name} has no description");
                }

                // The attributes come from the cmdlet metadata, so they must agree with what the engine sees.
                var sets = parameter.ParameterSets.Values;
                var positions = sets.Select(s => s.Position).Distinct().ToList();
                var expected = new
                {
                    Required = sets.All(s => s.IsMandatory) ? "true" : "false",
                    Position = positions.Count == 1 && positions[0] >= 0 ? positions[0].ToString(System.Globalization.CultureInfo.InvariantCulture) : "named",
                    ByValue = sets.Any(s => s.ValueFromPipeline),
                    ByPropertyName = sets.Any(s => s.ValueFromPipelineByPropertyName),
                    Type = (Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType).FullName!,
                };
                var pipeline = Str(Prop(doc, "pipelineInput"));
                var actual = new
                {
                    Required = Str(Prop(doc, "required")),
                    Position = Str(Prop(doc, "position")),
                    ByValue = pipeline.Contains("ByValue", StringComparison.Ordinal),
                    ByPropertyName = pipeline.Contains("ByPropertyName", StringComparison.Ordinal),
                    Type = Str(Prop(Prop(doc, "type"), "name")),
                };
                if (!expected.Equals(actual))
                {
                    problems.Add($"{name}: -{parameter.Name} help says {actual}, the cmdlet has {expected}");
                }
            }

            problems.AddRange(documented.Keys.Select(extra => $"{name}: help documents -{extra}, which the cmdlet does not have"));

            var examples = Items(Prop(Prop(help, "examples"), "example")).ToList();
            if (examples.Count < 2)
            {
                problems.Add($"{name}: {examples.Count} examples, at least 2 needed");
            }

            foreach (var example in examples)
            {
                var code = Str(Prop(example, "code"));
                if (!code.Contains(name, StringComparison.OrdinalIgnoreCase) || Text(Prop(example, "remarks")).Length == 0)
                {
                    problems.Add($"{name}: example '{Prop(example, "title")}' needs code that calls {name} and an explanation");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Get_Help_shows_the_examples_and_one_parameter_as_a_user_sees_them()
    {
        var examples = ModuleHost.Run("Get-Help Get-EnclavePcr -Examples").AssertNoErrors();
        var parameter = Assert.Single(ModuleHost.Run("Get-Help Get-EnclavePcr -Parameter LiteralPath").AssertNoErrors().Output);

        Assert.Contains("Get-EnclavePcr -Path ./detector.eif", examples.FormattedText, StringComparison.Ordinal);
        Assert.Contains("Example 2: Measure every image in a folder", examples.FormattedText, StringComparison.Ordinal);
        Assert.Equal("String[]", Str(Prop(parameter, "parameterValue")));
        Assert.Equal("PSPath, FullName, LP", Str(Prop(parameter, "aliases")));
        Assert.Equal("True (ByPropertyName)", Str(Prop(parameter, "pipelineInput")));
        Assert.StartsWith("The image files to measure, used exactly as typed", Text(Prop(parameter, "description")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_about_topic_explains_who_can_decrypt_what()
    {
        var result = ModuleHost.Run("Get-Help about_NitroEnclave").AssertNoErrors();
        var text = string.Join("\n", result.Output.Select(o => o.BaseObject.ToString()));

        Assert.StartsWith("TOPIC\n    about_NitroEnclave", text, StringComparison.Ordinal);
        foreach (var fact in new[]
        {
            "envelope encryption", "kms:RecipientAttestation:ImageSha384", "CiphertextForRecipient", "parent instance",
            "AccessDeniedException", "debug mode", "all zero", "Start-EnclaveSimulation", "local KMS", "simulated",
        })
        {
            Assert.Contains(fact, text, StringComparison.OrdinalIgnoreCase);
        }

        Assert.All(text.Split('\n'), line => Assert.True(line.Length <= 80, $"Longer than 80 columns: '{line}'"));
    }

    [Fact]
    public void The_help_builder_names_the_file_and_line_of_a_malformed_source()
    {
        var source = Directory.CreateTempSubdirectory("help-src-");
        var output = Directory.CreateTempSubdirectory("help-out-");
        try
        {
            File.WriteAllText(Path.Combine(source.FullName, "Get-Thing.md"), "# Get-Thing\n\n## Synopsis\nGets a thing.\n\n#### -Name\n");
            var references = Path.Combine(output.FullName, "references.txt");
            File.WriteAllText(references, string.Empty);
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
            var builder = Path.Combine(ModuleHost.RepositoryRoot, "tools", "NitroEnclave.HelpBuilder", "bin", configuration, "net10.0", "NitroEnclave.HelpBuilder.dll");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var argument in new[] { builder, source.FullName, Path.Combine(Path.GetDirectoryName(ModuleHost.ModuleManifest)!, "NitroEnclave.PowerShell.dll"), references, output.FullName })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();

            Assert.Equal(1, process.ExitCode);
            Assert.Contains("Get-Thing.md(6): error HELP001: Unsupported heading '#### -Name'", error, StringComparison.Ordinal);
            Assert.Empty(output.GetFiles("*.xml"));
        }
        finally
        {
            source.Delete(recursive: true);
            output.Delete(recursive: true);
        }
    }
}
