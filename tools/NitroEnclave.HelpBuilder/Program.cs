using NitroEnclave.HelpBuilder;

// Usage: NitroEnclave.HelpBuilder <help source dir> <cmdlet assembly> <reference list file> <output dir>
// The reference list holds one assembly path per line: what the cmdlet assembly was compiled against.
if (args.Length != 4)
{
    Console.Error.WriteLine("usage: NitroEnclave.HelpBuilder <source dir> <cmdlet assembly> <reference list file> <output dir>");
    return 2;
}

var (sourceDir, assemblyPath, referenceList, outputDir) = (args[0], args[1], args[2], args[3]);
try
{
    var documents = Directory.EnumerateFiles(sourceDir, "*.md")
        .Order(StringComparer.Ordinal)
        .Select(path => HelpMarkdown.Parse(path, File.ReadAllText(path)))
        .ToList();
    foreach (var document in documents.Where(d => !string.Equals(Path.GetFileNameWithoutExtension(d.Path), d.Title, StringComparison.Ordinal)))
    {
        throw new HelpSourceException(document.Path, 1, $"The title '{document.Title}' must match the file name.");
    }

    // help/src/shared/*.md: parameters several cmdlets share, described once.
    var sharedDir = Path.Combine(sourceDir, "shared");
    var shared = (Directory.Exists(sharedDir) ? Directory.EnumerateFiles(sharedDir, "*.md") : [])
        .Select(path => HelpMarkdown.Parse(path, File.ReadAllText(path)))
        .SelectMany(d => d.Find("Parameters")?.Items ?? [])
        .ToDictionary(i => i.Heading.TrimStart('-'), StringComparer.OrdinalIgnoreCase);
    var cmdlets = CmdletMetadataReader.Read(assemblyPath, File.ReadAllLines(referenceList).Where(l => l.Length > 0));
    var byName = documents.ToDictionary(d => d.Title, StringComparer.OrdinalIgnoreCase);
    var commands = cmdlets
        .OrderBy(c => c.Name, StringComparer.Ordinal)
        .Where(c => byName.ContainsKey(c.Name))
        .Select(c => (c, byName[c.Name]))
        .ToList();

    Directory.CreateDirectory(outputDir);
    var mamlPath = Path.Combine(outputDir, Path.GetFileName(assemblyPath) + "-Help.xml");
    WriteAtomically(mamlPath, temp => MamlWriter.Write(temp, commands, shared));
    foreach (var topic in documents.Where(d => d.Title.StartsWith("about_", StringComparison.Ordinal)))
    {
        WriteAtomically(Path.Combine(outputDir, topic.Title + ".help.txt"), temp => File.WriteAllText(temp, AboutTopicWriter.Render(topic)));
    }

    var undocumented = cmdlets.Where(c => !byName.ContainsKey(c.Name)).Select(c => c.Name).ToList();
    Console.WriteLine($"Help for {commands.Count} cmdlets written to {mamlPath}" +
        (undocumented.Count == 0 ? "." : $"; no help source for {string.Join(", ", undocumented)}."));
    return 0;
}
catch (HelpSourceException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}

static void WriteAtomically(string path, Action<string> write)
{
    var temp = path + ".tmp";
    write(temp);
    File.Move(temp, path, overwrite: true);
}
