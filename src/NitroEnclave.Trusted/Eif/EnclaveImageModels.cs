using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Eif;

/// <summary>The PCRs of an enclave image, as nitro-cli build-enclave reports them (lowercase hex SHA-384).</summary>
public sealed class EnclaveMeasurements
{
    public EnclaveMeasurements(string? path, string pcr0, string pcr1, string pcr2, string? pcr8, bool? crcValid)
    {
        Path = path;
        PCR0 = pcr0;
        PCR1 = pcr1;
        PCR2 = pcr2;
        PCR8 = pcr8;
        CrcValid = crcValid;
    }

    /// <summary>The image file measured, or the JSON file read; null for JSON text from the pipeline.</summary>
    public string? Path { get; }

    public string HashAlgorithm { get; } = "SHA384";

    /// <summary>The whole image: kernel, command line and every ramdisk.</summary>
    public string PCR0 { get; }

    /// <summary>The kernel, command line and bootstrap ramdisk.</summary>
    public string PCR1 { get; }

    /// <summary>The application ramdisks.</summary>
    public string PCR2 { get; }

    /// <summary>The signing certificate; null when the image is not signed.</summary>
    public string? PCR8 { get; }

    /// <summary>Whether the stored CRC matched; null when the source (nitro-cli JSON) does not say.</summary>
    public bool? CrcValid { get; }

    /// <summary>The measurements as a PCR index to hex value map (0, 1, 2 and 8 when present).</summary>
    public IReadOnlyDictionary<int, string> ToDictionary()
    {
        var map = new Dictionary<int, string> { [0] = PCR0, [1] = PCR1, [2] = PCR2 };
        if (PCR8 is not null)
        {
            map[8] = PCR8;
        }

        return map;
    }

    /// <summary>PCR0 whole: the value that identifies the image (a cut hash cannot be checked).</summary>
    public override string ToString() => $"PCR0 {PCR0}";
}

public enum EifSectionType : ushort
{
    Invalid = 0,
    Kernel = 1,
    Cmdline = 2,
    Ramdisk = 3,
    Signature = 4,
    Metadata = 5,
}

/// <summary>One section of an EIF as found in the file.</summary>
public sealed class EnclaveImageSection
{
    public EnclaveImageSection(int index, EifSectionType type, long offset, long size)
    {
        Index = index;
        Type = type;
        Offset = offset;
        Size = size;
    }

    public int Index { get; }

    public EifSectionType Type { get; }

    /// <summary>Offset of the section's 12-byte header in the file.</summary>
    public long Offset { get; }

    /// <summary>Size of the section's data, without its header.</summary>
    public long Size { get; }

    public override string ToString() => FormattableString.Invariant($"{Index}: {Type}, {Size} bytes at {Offset}");
}

/// <summary>The build metadata nitro-cli stores in an EIF (version 4 and later).</summary>
public sealed class EnclaveImageBuildMetadata
{
    public EnclaveImageBuildMetadata(string? buildTime, string? buildTool, string? buildToolVersion, string? operatingSystem, string? kernelVersion)
    {
        BuildTime = buildTime;
        BuildTool = buildTool;
        BuildToolVersion = buildToolVersion;
        OperatingSystem = operatingSystem;
        KernelVersion = kernelVersion;
    }

    public string? BuildTime { get; }

    public string? BuildTool { get; }

    public string? BuildToolVersion { get; }

    public string? OperatingSystem { get; }

    public string? KernelVersion { get; }

    public override string ToString() => $"{BuildTool} {BuildToolVersion} on {OperatingSystem}, {BuildTime}";
}

/// <summary>What nitro-cli describe-eif reports about an image, plus the section list.</summary>
public sealed class EnclaveImage
{
    internal EnclaveImage(
        string? path,
        int eifVersion,
        string architecture,
        long size,
        EnclaveMeasurements measurements,
        bool? checkCrc,
        uint? storedCrc,
        uint? computedCrc,
        bool isSigned,
        X509Certificate2? signingCertificate,
        bool? signatureCheck,
        string? imageName,
        string? imageVersion,
        EnclaveImageBuildMetadata? buildMetadata,
        string? dockerInfo,
        string? customMetadata,
        IReadOnlyList<EnclaveImageSection> sections)
    {
        Path = path;
        EifVersion = eifVersion;
        Architecture = architecture;
        Size = size;
        Measurements = measurements;
        CheckCrc = checkCrc;
        StoredCrc = storedCrc;
        ComputedCrc = computedCrc;
        IsSigned = isSigned;
        SigningCertificate = signingCertificate;
        SignatureCheck = signatureCheck;
        ImageName = imageName;
        ImageVersion = imageVersion;
        BuildMetadata = buildMetadata;
        DockerInfo = dockerInfo;
        CustomMetadata = customMetadata;
        Sections = sections;
    }

    public string? Path { get; }

    public int EifVersion { get; }

    /// <summary>x86_64 or aarch64 (from the header flags); empty when the source does not say.</summary>
    public string Architecture { get; }

    /// <summary>File size in bytes; 0 when read from nitro-cli JSON.</summary>
    public long Size { get; }

    public EnclaveMeasurements Measurements { get; }

    /// <summary>Whether the stored CRC-32 matches the image (describe-eif's CheckCRC).</summary>
    public bool? CheckCrc { get; }

    public uint? StoredCrc { get; }

    public uint? ComputedCrc { get; }

    public bool IsSigned { get; }

    public X509Certificate2? SigningCertificate { get; }

    /// <summary>Whether the PCR0 signature verifies with the embedded certificate and covers this image's PCR0.</summary>
    public bool? SignatureCheck { get; }

    public string? ImageName { get; }

    public string? ImageVersion { get; }

    public EnclaveImageBuildMetadata? BuildMetadata { get; }

    /// <summary>The Docker image description as JSON text, as nitro-cli stored it.</summary>
    public string? DockerInfo { get; }

    /// <summary>Custom metadata as JSON text, when the builder was given some.</summary>
    public string? CustomMetadata { get; }

    public IReadOnlyList<EnclaveImageSection> Sections { get; }

    public override string ToString() =>
        FormattableString.Invariant($"{System.IO.Path.GetFileName(Path) ?? "EIF"}: EIF version {EifVersion}{(Architecture.Length == 0 ? string.Empty : " " + Architecture)}, {Sections.Count} sections{(IsSigned ? ", signed" : string.Empty)}");
}
