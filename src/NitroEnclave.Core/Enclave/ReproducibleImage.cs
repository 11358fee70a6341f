using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NitroEnclave.Eif;

namespace NitroEnclave.Enclave;

/// <summary>The inputs of a reproducible enclave image; the image is a function of these and nothing else.</summary>
public sealed class ReproducibleImageOptions
{
    /// <summary>nitro-cli's blob folder: bzImage (or Image on aarch64), its .config, cmdline, init, nsm.ko.</summary>
    public required string BlobPath { get; init; }

    /// <summary>The enclave server's folder (EnclaveHost, ONNX Runtime, models/), stored under /app in the enclave.</summary>
    public required string ServerPath { get; init; }

    public required string OutputPath { get; init; }

    /// <summary>PEM certificate and PEM ECDSA private key to sign PCR0 with (sets PCR8); both or neither.</summary>
    public string? SigningCertificatePath { get; init; }

    public string? SigningKeyPath { get; init; }

    /// <summary>The metadata's build time; default: SOURCE_DATE_EPOCH, else the commit time of this module's source.</summary>
    public DateTimeOffset? BuildTime { get; init; }
}

/// <summary>
/// Builds an Enclave Image File without Docker or nitro-cli, as a pure function of its inputs, so a data owner who
/// rebuilds it from the same blobs and server gets the same PCRs. The ramdisks have the layout nitro-cli's linuxkit
/// step gives them: the bootstrap one holds dev/, init and nsm.ko; the application one holds cmd, env (one argument or
/// variable a line, read by init) and rootfs/, the root the server runs in (its files under rootfs/app, and the
/// dev, proc, run, sys, tmp and var directories init mounts on).
/// </summary>
public static class ReproducibleImage
{
    public const string ImageName = "nitroenclave-detector";
    public const string ServerExecutable = "EnclaveHost";
    public const string BlobMissing = "EnclaveImageBlobMissing";
    public const string ServerMissing = "EnclaveImageServerMissing";
    public const string BuildTimeInvalid = "EnclaveImageBuildTimeInvalid";

    /// <summary>The command init runs: the server, as enclave/Dockerfile's ENTRYPOINT starts it.</summary>
    public static readonly IReadOnlyList<string> Command = ["/app/" + ServerExecutable, "serve", "--listen", "vsock://:5000", "--nsm", "device", "--kms-proxy-port", "8000"];

    /// <summary>The environment init gives it: the PATH a Debian image sets.</summary>
    public static readonly IReadOnlyList<string> Environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

    private static readonly string[] RootDirectories = ["dev", "proc", "run", "sys", "tmp", "var"];

    /// <summary>Writes the image (through a temporary file beside it) and returns it as read back.</summary>
    public static EnclaveImage Build(ReproducibleImageOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var blobs = BlobFolder.Open(options.BlobPath);
        var server = Path.GetFullPath(options.ServerPath);
        if (!File.Exists(Path.Combine(server, ServerExecutable)))
        {
            throw new NitroEnclaveException(ServerMissing, ErrorKind.NotFound, $"The server folder '{server}' has no {ServerExecutable} executable.");
        }

        if ((options.SigningCertificatePath is null) != (options.SigningKeyPath is null))
        {
            throw new NitroEnclaveException(EnclaveErrors.SigningIncomplete, ErrorKind.InvalidArgument, "Signing an image takes both a certificate and its private key.");
        }

        using var signer = options.SigningCertificatePath is null ? null : LoadSigner(options.SigningCertificatePath, options.SigningKeyPath!);
        var application = ApplicationRamdisk(server);
        var content = new EnclaveImageContent
        {
            Kernel = EifBlob.FromFile(blobs.Kernel),
            Cmdline = blobs.Cmdline,
            Ramdisks = [BootstrapRamdisk(blobs).ToBlob(), application.ToBlob()],
            Metadata = Metadata(blobs, server, options.BuildTime ?? DefaultBuildTime()),
            Aarch64 = blobs.Aarch64,
            Signer = signer,
        };

        var output = Path.GetFullPath(options.OutputPath);
        var temporary = output + ".partial";
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            EnclaveImageWriter.Write(temporary, content);
            File.Move(temporary, output, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }

        return EnclaveImageReader.Read(output, cancellationToken);
    }

    /// <summary>dev/, init and nsm.ko, modes as nitro-cli's bootstrap ramfs template gives them.</summary>
    public static CpioArchive BootstrapRamdisk(BlobFolder blobs)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        return new CpioArchive()
            .AddDirectory("dev")
            .AddFile("init", EifBlob.FromFile(blobs.Init), 0x1ED)
            .AddFile("nsm.ko", EifBlob.FromFile(blobs.NsmModule), 0x1ED);
    }

    /// <summary>
    /// cmd, env and rootfs/ with the server under app/. Modes do not come from the disk (they differ between machines
    /// and file systems): directories and the server executable are 0755, every other file 0644.
    /// </summary>
    public static CpioArchive ApplicationRamdisk(string serverPath)
    {
        var archive = new CpioArchive()
            .AddFile("cmd", EifBlob.FromBytes(Lines(Command)), 0x1A4)
            .AddFile("env", EifBlob.FromBytes(Lines(Environment)), 0x1A4)
            .AddDirectory("rootfs")
            .AddDirectory("rootfs/app");
        foreach (var directory in RootDirectories)
        {
            archive.AddDirectory("rootfs/" + directory);
        }

        var root = new DirectoryInfo(serverPath);
        foreach (var entry in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var relative = Path.GetRelativePath(root.FullName, entry.FullName).Replace('\\', '/');
            var path = "rootfs/app/" + relative;
            if (entry is DirectoryInfo)
            {
                archive.AddDirectory(path);
            }
            else
            {
                // A link is stored as the file it points to: the image holds content, not the builder's links.
                archive.AddFile(path, EifBlob.FromFile(entry.FullName), relative == ServerExecutable ? 0x1ED : 0x1A4);
            }
        }

        return archive;
    }

    /// <summary>SOURCE_DATE_EPOCH when set, else the commit time this module was built from, else the epoch.</summary>
    public static DateTimeOffset DefaultBuildTime()
    {
        var epoch = System.Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (!string.IsNullOrEmpty(epoch))
        {
            if (!long.TryParse(epoch, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 253402300799)
            {
                throw new NitroEnclaveException(BuildTimeInvalid, ErrorKind.InvalidArgument, $"SOURCE_DATE_EPOCH '{epoch}' is not a count of seconds since 1970-01-01.");
            }

            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }

        return DateTimeOffset.FromUnixTimeSeconds(long.TryParse(BuildPin("SourceCommitTime"), NumberStyles.None, CultureInfo.InvariantCulture, out var commit) ? commit : 0);
    }

    /// <summary>
    /// The metadata section, serialised as serde_json writes nitro-cli's EifIdentityInfo (same fields, same order, no
    /// spaces). CustomMetadata records what the image depends on beyond its bytes: the toolchain pins, the model's
    /// checksum and the blobs'.
    /// </summary>
    private static byte[] Metadata(BlobFolder blobs, string server, DateTimeOffset buildTime)
    {
        var version = typeof(ReproducibleImage).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        var (os, kernel) = KernelRelease(blobs.KernelConfig);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("ImageName", ImageName);
            json.WriteString("ImageVersion", version);
            json.WriteStartObject("BuildMetadata");
            // chrono's to_rfc3339 for a whole second, as nitro-cli writes it.
            json.WriteString("BuildTime", buildTime.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'+00:00'", CultureInfo.InvariantCulture));
            json.WriteString("BuildTool", "NitroEnclave");
            json.WriteString("BuildToolVersion", version);
            json.WriteString("OperatingSystem", os);
            json.WriteString("KernelVersion", kernel);
            json.WriteEndObject();
            json.WriteNull("DockerInfo");
            json.WriteStartObject("CustomMetadata");
            json.WriteBoolean("Reproducible", true);
            json.WriteString("DotNetSdk", BuildPin("DotNetSdkVersion"));
            json.WriteString("ILCompiler", BuildPin("ILCompilerVersion"));
            json.WriteString("OnnxRuntime", BuildPin("OnnxRuntimeVersion"));
            json.WriteString("Linker", ElfComment.Read(Path.Combine(server, ServerExecutable)));
            json.WriteStartObject("Sha256");
            foreach (var model in Directory.EnumerateFiles(server, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                json.WriteString("app/" + Path.GetRelativePath(server, model).Replace('\\', '/'), Sha256(model));
            }

            json.WriteString("app/" + ServerExecutable, Sha256(Path.Combine(server, ServerExecutable)));
            foreach (var blob in new[] { blobs.Kernel, blobs.Init, blobs.NsmModule })
            {
                json.WriteString("blobs/" + Path.GetFileName(blob), Sha256(blob));
            }

            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>OS and kernel version from the config's third line ("# Linux/x86_64 6.1.x Kernel Configuration"), as nitro-cli reads them.</summary>
    private static (string Os, string Kernel) KernelRelease(string configPath)
    {
        var line = File.ReadLines(configPath).Skip(2).FirstOrDefault() ?? string.Empty;
        var words = line.Split(' ', '/', '-');
        return (words.Length > 1 ? words[1] : "Unknown", words.Length > 3 ? words[3] : "Unknown");
    }

    /// <summary>A toolchain version recorded when this module was built (see NitroEnclave.Core.csproj).</summary>
    private static string? BuildPin(string key) =>
        typeof(ReproducibleImage).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value is { Length: > 0 } value ? value : null;

    private static byte[] Lines(IEnumerable<string> lines) => Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));

    private static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(file)).ToLowerInvariant();
    }

    private static EifSigningKey LoadSigner(string certificatePath, string keyPath)
    {
        string certificate;
        string keyPem;
        try
        {
            certificate = File.ReadAllText(certificatePath);
            keyPem = File.ReadAllText(keyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new NitroEnclaveException(EnclaveErrors.ImageNotFound, ErrorKind.NotFound, "Cannot read the signing certificate or key: " + ex.Message, ex);
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(keyPem);
            return new EifSigningKey(certificate, key);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            // The message names the files' roles only: a key's text never goes into it.
            throw new NitroEnclaveException(EifErrors.SigningKeyMismatch, ErrorKind.InvalidArgument, "The signing certificate or key is not a PEM ECDSA certificate and private key.", ex);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}

/// <summary>nitro-cli's blob folder, with the file names nitro-cli installs (blobs/x86_64 or blobs/aarch64).</summary>
public sealed class BlobFolder
{
    private BlobFolder(string kernel, bool aarch64, string cmdline, string init, string nsm)
    {
        Kernel = kernel;
        KernelConfig = kernel + ".config";
        Aarch64 = aarch64;
        Cmdline = cmdline;
        Init = init;
        NsmModule = nsm;
    }

    public string Kernel { get; }

    public string KernelConfig { get; }

    public bool Aarch64 { get; }

    /// <summary>The cmdline file's text, trimmed as nitro-cli trims it.</summary>
    public string Cmdline { get; }

    public string Init { get; }

    public string NsmModule { get; }

    public static BlobFolder Open(string path)
    {
        var folder = Path.GetFullPath(path);
        if (!Directory.Exists(folder))
        {
            throw new NitroEnclaveException(ReproducibleImage.BlobMissing, ErrorKind.NotFound, $"The blob folder '{folder}' does not exist.");
        }

        var aarch64 = !File.Exists(Path.Combine(folder, "bzImage")) && File.Exists(Path.Combine(folder, "Image"));
        var kernel = Path.Combine(folder, aarch64 ? "Image" : "bzImage");
        string Require(string file)
        {
            return File.Exists(file)
                ? file
                : throw new NitroEnclaveException(ReproducibleImage.BlobMissing, ErrorKind.NotFound, $"The blob folder '{folder}' has no {Path.GetFileName(file)} (it needs bzImage or Image, its .config, cmdline, init and nsm.ko, as nitro-cli installs them).");
        }

        Require(kernel);
        Require(kernel + ".config");
        var cmdline = File.ReadAllText(Require(Path.Combine(folder, "cmdline"))).Trim();
        return new BlobFolder(kernel, aarch64, cmdline, Require(Path.Combine(folder, "init")), Require(Path.Combine(folder, "nsm.ko")));
    }
}

/// <summary>The .comment section of an ELF executable: the compiler and linker versions the toolchain stamps there.</summary>
internal static class ElfComment
{
    public static string? Read(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> header = stackalloc byte[64];
        // 64-bit little-endian ELF only: what NativeAOT writes for linux-x64 and linux-arm64.
        if (file.Read(header) < 64 || !header[..4].SequenceEqual((ReadOnlySpan<byte>)[0x7F, 0x45, 0x4C, 0x46]) || header[4] != 2 || header[5] != 1)
        {
            return null;
        }

        var sectionTable = (long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x28..]);
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(header[0x3A..]);
        var count = BinaryPrimitives.ReadUInt16LittleEndian(header[0x3C..]);
        var namesIndex = BinaryPrimitives.ReadUInt16LittleEndian(header[0x3E..]);
        if (entrySize < 64 || namesIndex >= count || sectionTable <= 0 || sectionTable + ((long)count * entrySize) > file.Length)
        {
            return null;
        }

        var sections = new byte[count * entrySize];
        file.Position = sectionTable;
        file.ReadExactly(sections);
        (long Offset, long Size) Section(int i) => (
            (long)BinaryPrimitives.ReadUInt64LittleEndian(sections.AsSpan((i * entrySize) + 0x18)),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(sections.AsSpan((i * entrySize) + 0x20)));
        byte[]? ReadSection((long Offset, long Size) s)
        {
            if (s.Offset < 0 || s.Size is < 0 or > 1 << 20 || s.Offset + s.Size > file.Length)
            {
                return null;
            }

            var data = new byte[s.Size];
            file.Position = s.Offset;
            file.ReadExactly(data);
            return data;
        }

        if (ReadSection(Section(namesIndex)) is not { } names)
        {
            return null;
        }

        for (var i = 0; i < count; i++)
        {
            var nameOffset = (int)BinaryPrimitives.ReadUInt32LittleEndian(sections.AsSpan(i * entrySize));
            if (nameOffset >= names.Length)
            {
                continue;
            }

            var end = Array.IndexOf(names, (byte)0, nameOffset);
            if (end > 0 && Encoding.ASCII.GetString(names, nameOffset, end - nameOffset) == ".comment" && ReadSection(Section(i)) is { } comment)
            {
                var strings = Encoding.UTF8.GetString(comment).Split('\0', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return strings.Length == 0 ? null : string.Join("; ", strings.Distinct(StringComparer.Ordinal));
            }
        }

        return null;
    }
}
