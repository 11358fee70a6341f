using System.Diagnostics;
using System.Runtime.InteropServices;

namespace NitroEnclave.Hosting;

/// <summary>
/// How to start one of the module's own .NET programs (the local KMS, the enclave server in the simulation): its
/// apphost when the apphost was built for this machine, else the dotnet host with its dll. The package is built on
/// linux-x64, so on Graviton or another OS the dll is what runs.
/// </summary>
public static class ManagedProgram
{
    public const string PlatformNotSupported = "SimulationPlatformNotSupported";

    // ELF e_machine values (System V ABI): the apphost's architecture.
    private const ushort ElfMachineX64 = 62;
    private const ushort ElfMachineArm64 = 183;

    /// <summary>The start info for <paramref name="assemblyName"/> in <paramref name="directory"/>.</summary>
    public static ProcessStartInfo StartInfo(string directory, string assemblyName, IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var dll = Path.Combine(directory, assemblyName + ".dll");
        if (!File.Exists(dll))
        {
            throw new NitroEnclaveException(ReadyProcess.StartFailed, ErrorKind.NotFound, $"Cannot find {dll}; build the module first (dotnet build -c Release).");
        }

        var apphost = Path.Combine(directory, assemblyName + (OperatingSystem.IsWindows() ? ".exe" : string.Empty));
        ProcessStartInfo start;
        if (File.Exists(apphost) && RunsHere(apphost))
        {
            ReadyProcess.EnsureExecutable(apphost);
            start = new ProcessStartInfo(apphost);
        }
        else
        {
            start = new ProcessStartInfo(DotnetHost());
            start.ArgumentList.Add(dll);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    /// <summary>
    /// The start info for a NativeAOT build of a program (<paramref name="executable"/>), or null when the module holds
    /// none built for this machine (the package's NativeAOT enclave server is built on linux-x64 only).
    /// </summary>
    public static ProcessStartInfo? NativeStartInfo(string executable, IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (!File.Exists(executable) || ElfMachine(executable) is null || !RunsHere(executable))
        {
            return null;
        }

        ReadyProcess.EnsureExecutable(executable);
        var start = new ProcessStartInfo(executable);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    /// <summary>
    /// Refuses, with a clear reason, to run the simulation's enclave server where it cannot: it ships with ONNX Runtime
    /// for Linux x64 and arm64 only.
    /// </summary>
    public static void EnsureSimulationRuns(OSPlatform? os = null, Architecture? architecture = null)
    {
        var linux = os is null ? OperatingSystem.IsLinux() : os == OSPlatform.Linux;
        var arch = architecture ?? RuntimeInformation.OSArchitecture;
        if (!linux || arch is not (Architecture.X64 or Architecture.Arm64))
        {
            var here = os is null ? RuntimeInformation.OSDescription : os.ToString();
            throw new NitroEnclaveException(PlatformNotSupported, ErrorKind.NotImplemented,
                $"The enclave simulation runs on Linux x64 and arm64 only (its enclave server ships ONNX Runtime for those), not on {here} {arch}. " +
                "The other cmdlets work here; run the simulation in WSL, a Linux VM or a Linux container.");
        }
    }

    /// <summary>True when <paramref name="apphost"/> can run on this machine: an ELF for this architecture on Linux, a non-ELF elsewhere.</summary>
    internal static bool RunsHere(string apphost) => RunsOn(ElfMachine(apphost), OperatingSystem.IsLinux(), RuntimeInformation.OSArchitecture);

    internal static bool RunsOn(ushort? elfMachine, bool linux, Architecture architecture) => elfMachine switch
    {
        null => !linux,
        ElfMachineX64 => linux && architecture == Architecture.X64,
        ElfMachineArm64 => linux && architecture == Architecture.Arm64,
        _ => false,
    };

    /// <summary>The e_machine field of an ELF file (little-endian, offset 18), or null when the file is not ELF.</summary>
    internal static ushort? ElfMachine(string path)
    {
        Span<byte> header = stackalloc byte[20];
        using var file = File.OpenRead(path);
        if (file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length
            || header[0] != 0x7F || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
        {
            return null;
        }

        return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(header[18..]);
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
