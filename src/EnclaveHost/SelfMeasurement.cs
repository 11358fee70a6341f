using System.Security.Cryptography;
using NitroEnclave.Eif;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// The PCRs a simulated security module reports when no EIF is given: measurements of what this server actually loads,
/// laid out like an enclave image's. PCR1 covers the executable (the "boot" part), PCR2 the model and labels (the
/// "application"), PCR0 all of them in that order. Changing the binary or the model changes the PCRs, so a key policy
/// pinned to them stops admitting a modified server, as it would on real hardware.
/// </summary>
public static class SelfMeasurement
{
    public static EnclaveMeasurements Compute(string executable, IReadOnlyList<string> applicationFiles)
    {
        ArgumentNullException.ThrowIfNull(applicationFiles);
        using var all = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        using var boot = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        using var application = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        Feed(executable, all, boot);
        foreach (var file in applicationFiles)
        {
            Feed(file, all, application);
        }

        return new EnclaveMeasurements(
            executable,
            Pcr.ToHex(Pcr.FromDigest(all.GetHashAndReset())),
            Pcr.ToHex(Pcr.FromDigest(boot.GetHashAndReset())),
            Pcr.ToHex(Pcr.FromDigest(application.GetHashAndReset())),
            null,
            null);
    }

    /// <summary>The file that holds this server's code: the native executable when published, else the managed assembly.</summary>
    public static string CurrentExecutable()
    {
        var process = Environment.ProcessPath;
        return process is not null && Path.GetFileNameWithoutExtension(process) != "dotnet"
            ? process
            : Path.Combine(AppContext.BaseDirectory, "EnclaveHost.dll");
    }

    private static void Feed(string path, IncrementalHash first, IncrementalHash second)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            first.AppendData(buffer, 0, read);
            second.AppendData(buffer, 0, read);
        }
    }
}
