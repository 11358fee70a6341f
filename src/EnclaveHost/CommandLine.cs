using System.Globalization;

namespace NitroEnclave.EnclaveHost;

/// <summary>A strict parser for "verb --name value --flag" command lines: unknown or repeated options are errors.</summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);

    private CommandLine(string verb) => Verb = verb;

    public string Verb { get; }

    public static CommandLine Parse(IReadOnlyList<string> args, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flagOptions)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0 || args[0].StartsWith('-'))
        {
            throw new UsageException("missing command");
        }

        var line = new CommandLine(args[0]);
        for (var i = 1; i < args.Count; i++)
        {
            var name = args[i];
            if (flagOptions.Contains(name))
            {
                line.Add(name, null);
            }
            else if (valueOptions.Contains(name))
            {
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"{name} needs a value");
                }

                line.Add(name, args[++i]);
            }
            else
            {
                throw new UsageException($"unknown option '{name}'");
            }
        }

        return line;
    }

    public bool Has(string name) => _options.ContainsKey(name);

    public string? Value(string name) => _options.GetValueOrDefault(name);

    public int WholeNumber(string name, int fallback, int min = 0) =>
        Value(name) is { } text
            ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min ? value : throw new UsageException($"{name} needs a whole number of at least {min}")
            : fallback;

    public TimeSpan Seconds(string name, TimeSpan fallback) =>
        Value(name) is not null ? TimeSpan.FromSeconds(WholeNumber(name, 0, min: 1)) : fallback;

    private void Add(string name, string? value)
    {
        if (!_options.TryAdd(name, value))
        {
            throw new UsageException($"{name} is given twice");
        }
    }
}

/// <summary>A command line the server cannot run; printed with the usage text, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
