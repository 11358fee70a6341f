using System.Diagnostics;

namespace NitroEnclave.Bench;

/// <summary>Small timing and memory helpers shared by the benchmarks.</summary>
internal static class Measure
{
    /// <summary>Runs <paramref name="action"/> <paramref name="runs"/> times after one warm-up and returns the fastest run.</summary>
    public static TimeSpan Best(int runs, Action action)
    {
        action();
        var best = TimeSpan.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            watch.Stop();
            best = watch.Elapsed < best ? watch.Elapsed : best;
        }

        return best;
    }

    /// <summary>Every run's duration after one warm-up, for percentiles.</summary>
    public static List<TimeSpan> All(int runs, Action action)
    {
        action();
        var times = new List<TimeSpan>(runs);
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            times.Add(watch.Elapsed);
        }

        return times;
    }

    public static double Percentile(IReadOnlyList<TimeSpan> times, double p)
    {
        var sorted = times.Select(t => t.TotalMilliseconds).Order().ToArray();
        var index = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }

    public static double MiBPerSecond(long bytes, TimeSpan time) => bytes / 1048576.0 / time.TotalSeconds;

    /// <summary>Peak resident set size (VmHWM) of this process, or of the process <paramref name="processId"/>, in MiB.</summary>
    public static double PeakRssMiB(int? processId = null)
    {
        foreach (var line in File.ReadLines($"/proc/{(processId is { } id ? id.ToString(System.Globalization.CultureInfo.InvariantCulture) : "self")}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return double.NaN;
    }

    /// <summary>Runs this benchmark executable again with <paramref name="arguments"/> and returns its standard output.</summary>
    public static string RunChild(params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Measure).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"child benchmark {string.Join(' ', arguments)} failed with exit code {process.ExitCode}");
        }

        return output;
    }

    public static string MachineLine() =>
        $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC";
}
