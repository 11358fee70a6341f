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

    /// <summary>
    /// The system files of the enclave's root (dynamic loader, libraries, CA bundle), stored at / in the enclave; its
    /// rootfs-packages.txt, when present, is recorded in the metadata. Null: the root holds the server folder alone.
    /// </summary>
    public string? RootfsPath { get; init; }

    public required string OutputPath { get; init; }

    /// <summary>PEM certificate and PEM ECDSA private key to sign PCR0 with (sets PCR8); both or neither.</summary>
    public string? SigningCertificatePath { get; init; }

    public string? SigningKeyPath { get; init; }

    /// <summary>The metadata's build time; default: SOURCE_DATE_EPOCH, else the commit time of this module's source.</summary>
    public DateTimeOffset? BuildTime { get; init; }
}

/// <summary>Where the installed module keeps the default inputs of a reproducible image (laid out by its build on linux-x64).</summary>
public static class EnclaveImageInputs
{
    /// <summary>The NativeAOT publish of the enclave server (linux-x64): EnclaveHost, ONNX Runtime, models/.</summary>
    public static string ServerPath(string moduleDirectory) => Path.Combine(moduleDirectory, "enclavehost-aot");

    /// <summary>The root's system files from the pinned Debian packages (enclave/rootfs-packages.txt).</summary>
    public static string RootfsPath(string moduleDirectory) => Path.Combine(moduleDirectory, "enclave-rootfs");
}

/// <summary>
/// Builds an Enclave Image File without Docker or nitro-cli, as a pure function of its inputs, so a data owner who
/// rebuilds it from the same blobs and server gets the same PCRs. The ramdisks have the layout nitro-cli's linuxkit
/// step gives them: the bootstrap one holds dev/, init and nsm.ko; the application one holds cmd, env (one argument or
/// variable a line, read by init) and rootfs/, the root init chroots into before it runs the command: the system files
/// (loader, libraries, CA bundle), the server under rootfs/app, and the dev, proc, run, sys, tmp and var directories
/// init mounts on.
/// </summary>
public static class ReproducibleImage
{
    public const string ImageName = "nitroenclave-detector";
    public const string ServerExecutable = "EnclaveHost";
    public const string BlobMissing = "EnclaveImageBlobMissing";
    public const string ServerMissing = "EnclaveImageServerMissing";
    public const string BuildTimeInvalid = "EnclaveImageBuildTimeInvalid";
    public const string RootfsMissing = "EnclaveImageRootfsMissing";
    public const string RootfsIncomplete = "EnclaveImageRootfsIncomplete";
    public const string RootfsConflict = "EnclaveImageRootfsConflict";

    /// <summary>The library .NET's cryptography opens at run time (no DT_NEEDED names it): OpenSSL 3.</summary>
    private const string RuntimeLoadedLibrary = "libssl.so.3";

    /// <summary>The manifest of pinned packages the rootfs folder was laid out from (scripts/fetch-rootfs-packages.sh).</summary>
    public const string RootfsManifest = "rootfs-packages.txt";

    /// <summary>Where the rootfs keeps the CA certificates the server trusts for TLS to KMS.</summary>
    public const string CertificateBundle = "/etc/ssl/certs/ca-certificates.crt";

    /// <summary>The command init runs: the server, as enclave/Dockerfile's ENTRYPOINT starts it.</summary>
    public static readonly IReadOnlyList<string> Command = ["/app/" + ServerExecutable, "serve", "--listen", "vsock://:5000", "--nsm", "device", "--kms-proxy-port", "8000"];

    /// <summary>
    /// The environment init gives it: the PATH a Debian image sets, and the CA bundle for .NET's OpenSSL (whose
    /// compiled-in default, /usr/lib/ssl/cert.pem, is a link a Debian image has and this root does not).
    /// </summary>
    public static readonly IReadOnlyList<string> Environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=" + CertificateBundle];

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

        var rootfs = options.RootfsPath is null ? null : Path.GetFullPath(options.RootfsPath);
        if (rootfs is not null)
        {
            CheckRootfs(server, rootfs);
        }

        using var signer = options.SigningCertificatePath is null ? null : LoadSigner(options.SigningCertificatePath, options.SigningKeyPath!);
        var application = ApplicationRamdisk(server, rootfs);
        var content = new EnclaveImageContent
        {
            Kernel = EifBlob.FromFile(blobs.Kernel),
            Cmdline = blobs.Cmdline,
            Ramdisks = [BootstrapRamdisk(blobs).ToBlob(), application.ToBlob()],
            Metadata = Metadata(blobs, server, rootfs, options.BuildTime ?? DefaultBuildTime()),
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
    /// cmd, env and rootfs/: the system files of the rootfs folder at its root and the server under app/. Modes do not
    /// come from the disk (they differ between machines and file systems): directories, the server executable and the
    /// dynamic loader it names are 0755, every other file 0644.
    /// </summary>
    public static CpioArchive ApplicationRamdisk(string serverPath, string? rootfsPath = null)
    {
        ArgumentNullException.ThrowIfNull(serverPath);
        var archive = new CpioArchive()
            .AddFile("cmd", EifBlob.FromBytes(Lines(Command)), 0x1A4)
            .AddFile("env", EifBlob.FromBytes(Lines(Environment)), 0x1A4)
            .AddDirectory("rootfs");
        HashSet<string> executables = new(StringComparer.Ordinal) { "app/" + ServerExecutable };
        if (ElfFile.TryOpen(Path.Combine(serverPath, ServerExecutable)) is { Interpreter: { } interpreter })
        {
            executables.Add(interpreter.TrimStart('/'));
        }

        AddTree(archive, serverPath, "app", executables);
        if (rootfsPath is not null)
        {
            AddTree(archive, rootfsPath, null, executables);
        }

        foreach (var directory in RootDirectories.Where(d => !archive.Contains("rootfs/" + d)))
        {
            archive.AddDirectory("rootfs/" + directory);
        }

        return archive;
    }

    /// <summary>A folder's directories and files under rootfs/ (at <paramref name="under"/> when given).</summary>
    private static void AddTree(CpioArchive archive, string folder, string? under, HashSet<string> executables)
    {
        if (under is not null)
        {
            archive.AddDirectory("rootfs/" + under);
        }

        var root = new DirectoryInfo(folder);
        foreach (var entry in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var relative = Path.GetRelativePath(root.FullName, entry.FullName).Replace('\\', '/');
            var inRoot = under is null ? relative : under + "/" + relative;
            var path = "rootfs/" + inRoot;
            if (entry is DirectoryInfo)
            {
                if (!archive.Contains(path))
                {
                    archive.AddDirectory(path);
                }
            }
            else if (archive.Contains(path))
            {
                throw new NitroEnclaveException(RootfsConflict, ErrorKind.InvalidArgument, $"The rootfs folder '{folder}' holds /{inRoot}, which the image keeps for the server.");
            }
            else
            {
                // A link is stored as the file it points to: the image holds content, not the builder's links.
                archive.AddFile(path, EifBlob.FromFile(entry.FullName), executables.Contains(inRoot) ? 0x1ED : 0x1A4);
            }
        }
    }

    /// <summary>
    /// What the server needs from the root, as the loader and .NET would look for it: the dynamic loader the executable
    /// names, every library in the closure of the DT_NEEDED entries of the executable and the libraries beside it (the
    /// executable's RUNPATH is its folder), found in the multiarch and plain library folders, the OpenSSL library .NET's
    /// cryptography loads at run time, and the CA bundle. Nothing is checked when the executable is not an ELF file.
    /// </summary>
    private static void CheckRootfs(string server, string rootfs)
    {
        if (!Directory.Exists(rootfs))
        {
            throw new NitroEnclaveException(RootfsMissing, ErrorKind.NotFound, $"The rootfs folder '{rootfs}' does not exist (scripts/fetch-rootfs-packages.sh lays it out from the pinned Debian packages).");
        }

        if (Directory.Exists(Path.Combine(rootfs, "app")) || File.Exists(Path.Combine(rootfs, "app")))
        {
            throw new NitroEnclaveException(RootfsConflict, ErrorKind.InvalidArgument, $"The rootfs folder '{rootfs}' holds /app, which the image keeps for the server.");
        }

        if (ElfFile.TryOpen(Path.Combine(server, ServerExecutable)) is not { } executable)
        {
            return;
        }

        var missing = new SortedSet<string>(StringComparer.Ordinal);
        if (executable.Interpreter is { } interpreter && !File.Exists(Path.Combine(rootfs, interpreter.TrimStart('/'))))
        {
            missing.Add(interpreter);
        }

        string[] libraryFolders = [$"lib/{executable.Multiarch}", $"usr/lib/{executable.Multiarch}", "lib", "usr/lib"];
        var provided = new HashSet<string>(StringComparer.Ordinal);
        if (executable.Interpreter is { } loader)
        {
            provided.Add(Path.GetFileName(loader));
        }

        var pending = new Queue<string>(executable.Needed.Append(RuntimeLoadedLibrary));
        foreach (var beside in Directory.EnumerateFiles(server, "*.so*").Order(StringComparer.Ordinal))
        {
            provided.Add(Path.GetFileName(beside));
            foreach (var needed in ElfFile.TryOpen(beside)?.Needed ?? [])
            {
                pending.Enqueue(needed);
            }
        }

        while (pending.TryDequeue(out var library))
        {
            if (!provided.Add(library))
            {
                continue;
            }

            if (libraryFolders.Select(folder => Path.Combine(rootfs, folder, library)).FirstOrDefault(File.Exists) is { } found)
            {
                foreach (var needed in ElfFile.TryOpen(found)?.Needed ?? [])
                {
                    pending.Enqueue(needed);
                }
            }
            else
            {
                missing.Add(library);
            }
        }

        if (!File.Exists(Path.Combine(rootfs, CertificateBundle.TrimStart('/'))))
        {
            missing.Add(CertificateBundle);
        }

        if (missing.Count > 0)
        {
            throw new NitroEnclaveException(RootfsIncomplete, ErrorKind.InvalidArgument, $"The rootfs folder '{rootfs}' lacks what {ServerExecutable} needs to run: {string.Join(", ", missing)}.");
        }
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
    /// checksum and the blobs', and the pinned packages the rootfs came from.
    /// </summary>
    private static byte[] Metadata(BlobFolder blobs, string server, string? rootfs, DateTimeOffset buildTime)
    {
        var packages = rootfs is null ? null : RootfsPackages(rootfs);
        var version = typeof(ReproducibleImage).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        var (os, kernel) = KernelRelease(blobs.KernelConfig);
        using var buffer = new MemoryStream();
        // serde_json escapes only quotes, backslashes and control characters: versions such as 2.36-9+deb12u14 stay as they are.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
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
            json.WriteString("Linker", ElfFile.TryOpen(Path.Combine(server, ServerExecutable))?.Comment);
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
            if (packages is null)
            {
                json.WriteNull("RootfsPackages");
            }
            else
            {
                json.WriteStartArray("RootfsPackages");
                foreach (var (package, packageVersion, sha256) in packages)
                {
                    json.WriteStartObject();
                    json.WriteString("Package", package);
                    json.WriteString("Version", packageVersion);
                    json.WriteString("Sha256", sha256);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>The rootfs manifest's packages (a line: package, version, SHA-256 of the .deb, files); null without a manifest.</summary>
    private static List<(string Package, string Version, string Sha256)>? RootfsPackages(string rootfs)
    {
        var manifest = Path.Combine(rootfs, RootfsManifest);
        if (!File.Exists(manifest))
        {
            return null;
        }

        var packages = new List<(string, string, string)>();
        var number = 0;
        foreach (var line in File.ReadLines(manifest))
        {
            number++;
            var fields = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0 || fields[0].StartsWith('#'))
            {
                continue;
            }

            if (fields.Length < 4 || fields[2].Length != 64 || !fields[2].All(char.IsAsciiHexDigitLower))
            {
                throw new NitroEnclaveException(RootfsIncomplete, ErrorKind.InvalidData, $"Line {number} of '{manifest}' is not 'package version sha256 file...'.");
            }

            packages.Add((fields[0], fields[1], fields[2]));
        }

        return packages;
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

/// <summary>
/// What the image builder reads from a 64-bit little-endian ELF file (what NativeAOT and Debian's amd64 and arm64
/// libraries are), by its section headers: the loader it names (.interp), the libraries it needs (DT_NEEDED in
/// .dynamic) and the compiler and linker versions the toolchain stamps in .comment.
/// </summary>
internal sealed class ElfFile
{
    private const int MaxSectionBytes = 16 << 20;
    private const uint DynamicSection = 6; // SHT_DYNAMIC
    private const long NeededTag = 1; // DT_NEEDED

    private ElfFile(ushort machine, string? interpreter, IReadOnlyList<string> needed, string? comment)
    {
        Machine = machine;
        Interpreter = interpreter;
        Needed = needed;
        Comment = comment;
    }

    public ushort Machine { get; }

    /// <summary>The Debian multiarch folder name of the file's architecture.</summary>
    public string Multiarch => Machine switch
    {
        62 => "x86_64-linux-gnu",
        183 => "aarch64-linux-gnu",
        _ => "unknown-linux-gnu",
    };

    public string? Interpreter { get; }

    public IReadOnlyList<string> Needed { get; }

    public string? Comment { get; }

    /// <summary>The file read as ELF, or null when it is not a 64-bit little-endian ELF file or its tables are malformed.</summary>
    public static ElfFile? TryOpen(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> header = stackalloc byte[64];
        if (file.Read(header) < 64 || !header[..4].SequenceEqual((ReadOnlySpan<byte>)[0x7F, 0x45, 0x4C, 0x46]) || header[4] != 2 || header[5] != 1)
        {
            return null;
        }

        var machine = BinaryPrimitives.ReadUInt16LittleEndian(header[0x12..]);
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
        Span<byte> Entry(int i) => sections.AsSpan(i * entrySize, entrySize);
        byte[]? Content(int i)
        {
            var offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(Entry(i)[0x18..]);
            var size = (long)BinaryPrimitives.ReadUInt64LittleEndian(Entry(i)[0x20..]);
            if (offset < 0 || size is < 0 or > MaxSectionBytes || offset + size > file.Length)
            {
                return null;
            }

            var data = new byte[size];
            file.Position = offset;
            file.ReadExactly(data);
            return data;
        }

        if (Content(namesIndex) is not { } names)
        {
            return null;
        }

        static string? Text(byte[] strings, long offset)
        {
            if (offset < 0 || offset >= strings.Length)
            {
                return null;
            }

            var end = Array.IndexOf(strings, (byte)0, (int)offset);
            return Encoding.UTF8.GetString(strings, (int)offset, (end < 0 ? strings.Length : end) - (int)offset);
        }

        string? interpreter = null;
        string? comment = null;
        var needed = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var name = Text(names, BinaryPrimitives.ReadUInt32LittleEndian(Entry(i)));
            var type = BinaryPrimitives.ReadUInt32LittleEndian(Entry(i)[4..]);
            if (name == ".interp" && Content(i) is { } interp)
            {
                interpreter = Text(interp, 0);
            }
            else if (name == ".comment" && Content(i) is { } stamps)
            {
                var strings = Encoding.UTF8.GetString(stamps).Split('\0', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                comment = strings.Length == 0 ? null : string.Join("; ", strings.Distinct(StringComparer.Ordinal));
            }
            else if (type == DynamicSection)
            {
                var link = (int)BinaryPrimitives.ReadUInt32LittleEndian(Entry(i)[0x28..]);
                if (link >= count || Content(i) is not { } dynamic || Content(link) is not { } dynamicStrings)
                {
                    return null;
                }

                for (var at = 0; at + 16 <= dynamic.Length; at += 16)
                {
                    var tag = BinaryPrimitives.ReadInt64LittleEndian(dynamic.AsSpan(at));
                    if (tag == 0)
                    {
                        break;
                    }

                    if (tag == NeededTag && Text(dynamicStrings, (long)BinaryPrimitives.ReadUInt64LittleEndian(dynamic.AsSpan(at + 8))) is { Length: > 0 } library)
                    {
                        needed.Add(library);
                    }
                }
            }
        }

        return new ElfFile(machine, interpreter, needed, comment);
    }
}
