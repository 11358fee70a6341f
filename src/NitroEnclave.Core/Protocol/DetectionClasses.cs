namespace NitroEnclave.Protocol;

/// <summary>The labels a detection may be restricted to (-Class): those of the model, compared ignoring case as the server does.</summary>
public static class DetectionClasses
{
    /// <summary>A requested label the model does not have.</summary>
    public const string Unknown = "DetectionClassUnknown";

    /// <summary>The labels of a labels file (one per line, blank lines for unused classes), without blanks or repeats.</summary>
    public static IReadOnlyList<string> ReadLabelsFile(string path) =>
        File.ReadLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary>The requested labels the model lacks, each once.</summary>
    public static IReadOnlyList<string> FindUnknown(IEnumerable<string> requested, IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(requested);
        ArgumentNullException.ThrowIfNull(labels);
        return requested.Where(c => !labels.Contains(c, StringComparer.OrdinalIgnoreCase)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>The <see cref="Unknown"/> error: it names the unknown labels and lists the model's.</summary>
    public static NitroEnclaveException UnknownError(IReadOnlyList<string> unknown, IReadOnlyList<string> labels, string? model)
    {
        ArgumentNullException.ThrowIfNull(unknown);
        ArgumentNullException.ThrowIfNull(labels);
        var names = string.Join(", ", unknown.Select(c => $"'{c}'"));
        return new NitroEnclaveException(Unknown, ErrorKind.InvalidArgument,
            $"The model{(model is null ? string.Empty : $" '{model}'")} has no {(unknown.Count == 1 ? "label" : "labels")} {names}. Its labels: {string.Join(", ", labels)}.");
    }
}
