using System.Globalization;
using System.Text.Json;
using NitroEnclave.Allocator;
using NitroEnclave.Eif;

namespace NitroEnclave.Enclave;

/// <summary>
/// Drives nitro-cli, found on PATH, and turns its JSON output into objects. Every failure is a NitroEnclaveException:
/// NitroCliNotFound when it is not installed, NitroCliFailed with its exit code and stderr when it reports an error.
/// </summary>
public sealed class NitroCli
{
    public const string ExecutableName = "nitro-cli";

    private readonly string _executable;

    private NitroCli(string executable) => _executable = executable;

    /// <summary>Finds nitro-cli on the current PATH.</summary>
    public static NitroCli Locate() =>
        new(ExternalProcess.FindOnPath(ExecutableName)
            ?? throw new NitroEnclaveException(EnclaveErrors.NitroCliNotFound, ErrorKind.NotFound, "nitro-cli was not found on PATH. Install aws-nitro-enclaves-cli on a Nitro Enclaves-enabled EC2 instance."));

    /// <summary>
    /// build-enclave: builds an EIF from a Docker image and returns its measurements. The progress nitro-cli prints on
    /// stderr goes to <paramref name="progress"/> line by line while it builds.
    /// </summary>
    public EnclaveMeasurements BuildEnclave(string dockerUri, string outputPath, string? signingCertificate, string? privateKey, CancellationToken cancellationToken, Action<string>? progress = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dockerUri);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if ((signingCertificate is null) != (privateKey is null))
        {
            throw new NitroEnclaveException(EnclaveErrors.SigningIncomplete, ErrorKind.InvalidArgument, "Signing an image needs both the signing certificate and its private key.");
        }

        List<string> arguments = ["build-enclave", "--docker-uri", dockerUri, "--output-file", outputPath];
        if (signingCertificate is not null)
        {
            arguments.AddRange(["--signing-certificate", signingCertificate, "--private-key", privateKey!]);
        }

        var output = Run(arguments, cancellationToken, progress);
        try
        {
            return NitroCliJson.Parse(output, outputPath).Measurements;
        }
        catch (NitroEnclaveException ex)
        {
            throw OutputInvalid("build-enclave", ex.Message, ex);
        }
    }

    /// <summary>run-enclave: starts an enclave from an EIF, checking the memory against the image first.</summary>
    public EnclaveInfo RunEnclave(EnclaveRunOptions options, CancellationToken cancellationToken, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var minimum = MinimumMemoryMiB(options.ImagePath);
        var memory = options.MemoryMiB ?? minimum;
        if (memory < minimum)
        {
            throw new NitroEnclaveException(EnclaveErrors.MemoryTooSmall, ErrorKind.InvalidArgument, $"{memory} MiB is too little for '{options.ImagePath}': nitro-cli needs at least {AllocatorValidator.ImageMemoryFactor} times the image size, {minimum} MiB.");
        }

        if (options.CpuCount < 1)
        {
            throw new NitroEnclaveException(EnclaveErrors.CpuCountInvalid, ErrorKind.InvalidArgument, $"The CPU count must be at least 1 (got {options.CpuCount}).");
        }

        if (options.Cid is { } requested && requested < 4)
        {
            throw new NitroEnclaveException(EnclaveErrors.CidInvalid, ErrorKind.InvalidArgument, $"Enclave CID {requested} is reserved: 0-2 belong to the hypervisor and host and 3 to the parent instance; use 4 or more.");
        }

        List<string> arguments =
        [
            "run-enclave", "--eif-path", options.ImagePath,
            "--cpu-count", options.CpuCount.ToString(CultureInfo.InvariantCulture),
            "--memory", memory.ToString(CultureInfo.InvariantCulture),
        ];
        if (options.Cid is { } cid)
        {
            arguments.AddRange(["--enclave-cid", cid.ToString(CultureInfo.InvariantCulture)]);
        }

        if (options.DebugMode)
        {
            arguments.Add("--debug-mode");
        }

        if (!string.IsNullOrEmpty(options.Name))
        {
            arguments.AddRange(["--enclave-name", options.Name]);
        }

        var output = Run(arguments, cancellationToken, progress);
        return ParseJson("run-enclave", output, root => ReadEnclave(root));
    }

    /// <summary>describe-enclaves: every enclave on this instance.</summary>
    public IReadOnlyList<EnclaveInfo> DescribeEnclaves(CancellationToken cancellationToken)
    {
        var output = Run(["describe-enclaves"], cancellationToken);
        return ParseJson("describe-enclaves", output, root => root.ValueKind == JsonValueKind.Array
            ? root.EnumerateArray().Select(ReadEnclave).ToList()
            : throw new JsonException("expected an array"));
    }

    /// <summary>terminate-enclave for one enclave, or for all with a null id.</summary>
    public IReadOnlyList<EnclaveTermination> TerminateEnclave(string? enclaveId, CancellationToken cancellationToken)
    {
        List<string> arguments = enclaveId is null ? ["terminate-enclave", "--all"] : ["terminate-enclave", "--enclave-id", enclaveId];
        var output = Run(arguments, cancellationToken);
        return ParseJson("terminate-enclave", output, root => root.ValueKind == JsonValueKind.Array
            ? root.EnumerateArray().Select(ReadTermination).ToList()
            : [ReadTermination(root)]);
    }

    /// <summary>The smallest --memory nitro-cli accepts for the image: four times its size, rounded up to whole MiB.</summary>
    public static long MinimumMemoryMiB(string imagePath)
    {
        var file = new FileInfo(imagePath);
        if (!file.Exists)
        {
            throw new NitroEnclaveException(EnclaveErrors.ImageNotFound, ErrorKind.NotFound, $"The enclave image '{imagePath}' does not exist.");
        }

        return AllocatorValidator.MinimumMemoryMiB(file.Length);
    }

    private string Run(List<string> arguments, CancellationToken cancellationToken, Action<string>? progress = null)
    {
        var result = ExternalProcess.Run(_executable, arguments, cancellationToken, progress)
            ?? throw new NitroEnclaveException(EnclaveErrors.NitroCliNotFound, ErrorKind.NotFound, $"nitro-cli at '{_executable}' cannot be started.");
        var stderr = result.StandardError.Trim();
        if (result.ExitCode != 0)
        {
            var detail = stderr.Length > 0 ? stderr : result.StandardOutput.Trim();
            throw new NitroEnclaveException(EnclaveErrors.NitroCliFailed, ErrorKind.InvalidOperation, $"nitro-cli {arguments[0]} failed with exit code {result.ExitCode}: {detail}");
        }

        return result.StandardOutput;
    }

    private static T ParseJson<T>(string command, string output, Func<JsonElement, T> read)
    {
        try
        {
            using var document = JsonDocument.Parse(output);
            return read(document.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw OutputInvalid(command, ex.Message, ex);
        }
    }

    private static EnclaveInfo ReadEnclave(JsonElement e)
    {
        EnclaveMeasurements? measurements = null;
        if (e.TryGetProperty("Measurements", out var m) && m.ValueKind == JsonValueKind.Object && m.TryGetProperty("PCR0", out _))
        {
            measurements = NitroCliJson.Parse("{\"Measurements\":" + m.GetRawText() + "}", null).Measurements;
        }

        return new EnclaveInfo(
            NitroCliJson.GetString(e, "EnclaveName"),
            NitroCliJson.GetString(e, "EnclaveID") ?? throw new JsonException("an enclave has no EnclaveID"),
            e.TryGetProperty("ProcessID", out var pid) ? pid.GetInt32() : null,
            e.GetProperty("EnclaveCID").GetUInt64(),
            e.TryGetProperty("NumberOfCPUs", out var cpus) ? cpus.GetInt32() : 0,
            e.TryGetProperty("CPUIDs", out var ids) ? ids.EnumerateArray().Select(id => id.GetInt32()).ToList() : [],
            e.TryGetProperty("MemoryMiB", out var memory) ? memory.GetInt64() : 0,
            NitroCliJson.GetString(e, "State"),
            NitroCliJson.GetString(e, "Flags"),
            measurements);
    }

    private static EnclaveTermination ReadTermination(JsonElement e) => new(
        NitroCliJson.GetString(e, "EnclaveName"),
        NitroCliJson.GetString(e, "EnclaveID") ?? throw new JsonException("the result has no EnclaveID"),
        e.TryGetProperty("Terminated", out var t) && t.GetBoolean());

    private static NitroEnclaveException OutputInvalid(string command, string detail, Exception inner) =>
        new(EnclaveErrors.NitroCliOutputInvalid, ErrorKind.InvalidData, $"nitro-cli {command} printed output that is not the documented JSON: {detail}", inner);
}
