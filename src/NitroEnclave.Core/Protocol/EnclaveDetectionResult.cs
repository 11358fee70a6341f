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

    /// <summary>A result the data owner decrypted from a confidential result file (Unprotect-EnclaveDetectionResult).</summary>
    public EnclaveDetectionResult(string path, IReadOnlyList<DetectedObject> objects, int imageWidth, int imageHeight, string model,
        IReadOnlyDictionary<string, double> timings, string inputName, string inputSha256)
    {
        Path = path;
        Objects = objects;
        ImageWidth = imageWidth;
        ImageHeight = imageHeight;
        Model = model;
        Timings = timings;
        Endpoint = string.Empty;
        InputName = inputName;
        InputSha256 = inputSha256;
    }

    /// <summary>The encrypted file sent to the enclave; for a decrypted confidential result, the result file.</summary>
    public string Path { get; }

    /// <summary>The objects found, best first.</summary>
    public IReadOnlyList<DetectedObject> Objects { get; }

    public int ImageWidth { get; }

    public int ImageHeight { get; }

    public string Model { get; }

    /// <summary>Milliseconds per stage inside the enclave, plus "roundTrip" as the client saw it.</summary>
    public IReadOnlyDictionary<string, double> Timings { get; }

    /// <summary>The server that answered; empty for a decrypted confidential result.</summary>
    public string Endpoint { get; }

    /// <summary>For a decrypted confidential result: the input's name the result is bound to; null otherwise.</summary>
    public string? InputName { get; }

    /// <summary>For a decrypted confidential result: SHA-256 (hex) of the encrypted input, as the enclave computed it.</summary>
    public string? InputSha256 { get; }

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
