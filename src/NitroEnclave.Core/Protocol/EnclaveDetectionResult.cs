namespace NitroEnclave.Protocol;

/// <summary>What Invoke-EnclaveDetection returns for one encrypted file.</summary>
public sealed class EnclaveDetectionResult
{
    public EnclaveDetectionResult(string path, DetectResponse response, string endpoint, double roundTripMilliseconds)
    {
        ArgumentNullException.ThrowIfNull(response);
        Path = path;
        Objects = response.Objects;
        ImageWidth = response.ImageWidth;
        ImageHeight = response.ImageHeight;
        Model = response.Model;
        Timings = new Dictionary<string, double>(response.Timings) { ["roundTrip"] = roundTripMilliseconds };
        Endpoint = endpoint;
    }

    /// <summary>The encrypted file sent to the enclave.</summary>
    public string Path { get; }

    /// <summary>The objects found, best first.</summary>
    public IReadOnlyList<DetectedObject> Objects { get; }

    public int ImageWidth { get; }

    public int ImageHeight { get; }

    public string Model { get; }

    /// <summary>Milliseconds per stage inside the enclave, plus "roundTrip" as the client saw it.</summary>
    public IReadOnlyDictionary<string, double> Timings { get; }

    public string Endpoint { get; }

    /// <summary>For example "air-show.jpg.enc: 5 objects (airplane x4, person x1)".</summary>
    public override string ToString()
    {
        var file = System.IO.Path.GetFileName(Path);
        if (Objects.Count == 0)
        {
            return $"{file}: no objects";
        }

        var counts = Objects.GroupBy(o => o.Label, StringComparer.Ordinal).Select(g => FormattableString.Invariant($"{g.Key} x{g.Count()}"));
        return FormattableString.Invariant($"{file}: {Objects.Count} object{(Objects.Count == 1 ? string.Empty : "s")} ({string.Join(", ", counts)})");
    }
}
