using System.Reflection;

namespace NitroEnclave.HelpBuilder;

/// <summary>How one parameter takes part in one parameter set.</summary>
internal sealed record ParameterSetUse(string SetName, bool Mandatory, int? Position, bool FromPipeline, bool FromPipelineByPropertyName);

/// <summary>A cmdlet parameter as declared in code.</summary>
internal sealed record ParameterMetadata(
    string Name,
    string TypeName,
    string FullTypeName,
    bool IsSwitch,
    bool IsArray,
    bool SupportsWildcards,
    IReadOnlyList<string> Aliases,
    IReadOnlyList<ParameterSetUse> Sets)
{
    public const string AllSets = "__AllParameterSets";

    public bool InSet(string set) => Sets.Any(s => s.SetName == AllSets || s.SetName == set);

    public ParameterSetUse UseIn(string set) => Sets.FirstOrDefault(s => s.SetName == set) ?? Sets.First(s => s.SetName == AllSets);
}

/// <summary>A cmdlet as declared in code: name, parameters, parameter sets and output types.</summary>
internal sealed record CmdletMetadata(
    string Verb,
    string Noun,
    string DefaultParameterSet,
    bool SupportsShouldProcess,
    IReadOnlyList<ParameterMetadata> Parameters,
    IReadOnlyList<string> OutputTypes)
{
    public string Name => $"{Verb}-{Noun}";

    /// <summary>The parameter sets, the default first; a cmdlet without named sets has one unnamed set.</summary>
    public IReadOnlyList<string> ParameterSets
    {
        get
        {
            var named = Parameters.SelectMany(p => p.Sets).Select(s => s.SetName).Where(s => s != ParameterMetadata.AllSets).Distinct().ToList();
            if (named.Count == 0)
            {
                return [ParameterMetadata.AllSets];
            }

            return [.. named.OrderBy(s => s == DefaultParameterSet ? 0 : 1)];
        }
    }
}

/// <summary>
/// Reads the cmdlets of a built assembly without loading it for execution (MetadataLoadContext), so a net8.0 cmdlet
/// assembly compiled against PowerShellStandard.Library can be inspected from this tool.
/// </summary>
internal static class CmdletMetadataReader
{
    private const string Sma = "System.Management.Automation.";

    public static IReadOnlyList<CmdletMetadata> Read(string assemblyPath, IEnumerable<string> referencePaths)
    {
        var paths = referencePaths.Append(assemblyPath).Distinct(StringComparer.Ordinal).ToList();
        using var context = new MetadataLoadContext(new PathAssemblyResolver(paths));
        var assembly = context.LoadFromAssemblyPath(assemblyPath);
        var cmdlets = new List<CmdletMetadata>();
        foreach (var type in assembly.GetExportedTypes().Where(t => t.IsClass && !t.IsAbstract))
        {
            var cmdlet = type.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == Sma + "CmdletAttribute");
            if (cmdlet is null)
            {
                continue;
            }

            var outputs = type.GetCustomAttributesData()
                .Where(a => a.AttributeType.FullName == Sma + "OutputTypeAttribute")
                .SelectMany(a => (IEnumerable<CustomAttributeTypedArgument>)a.ConstructorArguments[0].Value!)
                .Select(v => v.Value is Type t ? t.FullName! : (string)v.Value!)
                .Where(name => name != "System.Void")
                .ToList();
            cmdlets.Add(new CmdletMetadata(
                (string)cmdlet.ConstructorArguments[0].Value!,
                (string)cmdlet.ConstructorArguments[1].Value!,
                Named(cmdlet, "DefaultParameterSetName") as string ?? ParameterMetadata.AllSets,
                Named(cmdlet, "SupportsShouldProcess") is true,
                [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(ReadParameter).OfType<ParameterMetadata>()],
                outputs));
        }

        return cmdlets;
    }

    private static ParameterMetadata? ReadParameter(PropertyInfo property)
    {
        var attributes = property.GetCustomAttributesData();
        var sets = attributes
            .Where(a => a.AttributeType.FullName == Sma + "ParameterAttribute")
            .Select(a => new ParameterSetUse(
                Named(a, "ParameterSetName") as string ?? ParameterMetadata.AllSets,
                Named(a, "Mandatory") is true,
                Named(a, "Position") is int position and >= 0 ? position : null,
                Named(a, "ValueFromPipeline") is true,
                Named(a, "ValueFromPipelineByPropertyName") is true))
            .ToList();
        if (sets.Count == 0)
        {
            return null;
        }

        var aliases = attributes
            .Where(a => a.AttributeType.FullName == Sma + "AliasAttribute")
            .SelectMany(a => (IEnumerable<CustomAttributeTypedArgument>)a.ConstructorArguments[0].Value!)
            .Select(v => (string)v.Value!)
            .ToList();
        var type = property.PropertyType;
        if (type.IsGenericType && type.GetGenericTypeDefinition().FullName == "System.Nullable`1")
        {
            type = type.GetGenericArguments()[0];
        }

        return new ParameterMetadata(
            property.Name,
            type.Name,
            type.FullName ?? type.Name,
            type.FullName == Sma + "SwitchParameter",
            type.IsArray,
            attributes.Any(a => a.AttributeType.FullName == Sma + "SupportsWildcardsAttribute"),
            aliases,
            sets);
    }

    private static object? Named(CustomAttributeData attribute, string name) =>
        attribute.NamedArguments.Where(a => a.MemberName == name).Select(a => a.TypedValue.Value).FirstOrDefault();
}
