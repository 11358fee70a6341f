using NitroEnclave.Bench;

// Runs the project's benchmarks, writes bench/results/<name>.md for each, and assembles bench/results/latest.md.
var benchmarks = new (string Name, Action<TextWriter> Run)[]
{
    ("pcr", PcrBenchmark.Run),
    ("envelope", EnvelopeBenchmark.Run),
    ("attestation", AttestationBenchmark.Run),
    ("detection", DetectionBenchmark.Run),
    ("e2e", EndToEndBenchmark.Run),
    ("localkms", LocalKmsBenchmark.Run),
};

switch (args.FirstOrDefault())
{
    case "pcr-child":
        PcrBenchmark.Child(args[1]);
        return 0;
    case "envelope-child":
        EnvelopeBenchmark.Child(args[1]);
        return 0;
    case "detection-child":
        DetectionBenchmark.Child();
        return 0;
    case "idle-child":
        Console.WriteLine(FormattableString.Invariant($"{Measure.PeakRssMiB():F1}"));
        return 0;
}

var selected = args.Length == 0 || args[0] == "all" ? benchmarks : benchmarks.Where(b => args.Contains(b.Name)).ToArray();
if (selected.Length == 0)
{
    Console.Error.WriteLine($"usage: NitroEnclave.Bench [all | {string.Join(" | ", benchmarks.Select(b => b.Name))} ...]");
    return 2;
}

var resultsDirectory = Path.Combine(FindRepositoryRoot(), "bench", "results");
Directory.CreateDirectory(resultsDirectory);
foreach (var (name, run) in selected)
{
    Console.Error.WriteLine($"running {name} ...");
    var section = new StringWriter();
    run(section);
    File.WriteAllText(Path.Combine(resultsDirectory, name + ".md"), $"# {name}\n\nMachine: {Measure.MachineLine()}\n\n{section}");
    Console.Write(section);
}

// latest.md: every benchmark's latest result, each stamped with its own run (a benchmark measures its comparison
// figure in that same run).
var combined = new StringWriter();
combined.WriteLine("# NitroEnclave benchmark results");
combined.WriteLine();
combined.WriteLine("Made by `dotnet run -c Release --project bench/NitroEnclave.Bench -- all`; one area: `-- <name>`.");
foreach (var (name, _) in benchmarks)
{
    var file = Path.Combine(resultsDirectory, name + ".md");
    if (File.Exists(file))
    {
        combined.WriteLine();
        combined.Write(File.ReadAllText(file).Replace($"# {name}\n", $"<!-- {name} -->\n", StringComparison.Ordinal));
    }
}

File.WriteAllText(Path.Combine(resultsDirectory, "latest.md"), combined.ToString());
return 0;

static string FindRepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "NitroEnclave.psd1")))
        {
            return dir.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}
