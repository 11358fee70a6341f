using NitroEnclave.Bench;

// Runs the project's benchmarks and writes bench/results/<name>.md, and bench/results/latest.md for "all".
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
var combined = new StringWriter();
combined.WriteLine("# NitroEnclave benchmark results");
combined.WriteLine();
combined.WriteLine("Machine: " + Measure.MachineLine());
combined.WriteLine();
foreach (var (name, run) in selected)
{
    Console.Error.WriteLine($"running {name} ...");
    var section = new StringWriter();
    run(section);
    File.WriteAllText(Path.Combine(resultsDirectory, name + ".md"), $"# {name}\n\nMachine: {Measure.MachineLine()}\n\n{section}");
    combined.Write(section);
    Console.Write(section);
}

if (selected.Length == benchmarks.Length)
{
    File.WriteAllText(Path.Combine(resultsDirectory, "latest.md"), combined.ToString());
}

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
