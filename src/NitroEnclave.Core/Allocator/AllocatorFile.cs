using System.Globalization;
using System.Text;
using static NitroEnclave.Allocator.AllocatorDocument;

namespace NitroEnclave.Allocator;

/// <summary>What Set-EnclaveAllocator would do to a file: the new text, the changes, and the findings about the result.</summary>
public sealed class AllocatorPlan
{
    internal AllocatorPlan(string path, string originalText, string newText, bool hasBom, IReadOnlyList<string> changes, AllocatorSettings result)
    {
        Path = path;
        OriginalText = originalText;
        NewText = newText;
        HasBom = hasBom;
        Changes = changes;
        Result = result;
    }

    public string Path { get; }

    public string OriginalText { get; }

    public string NewText { get; }

    internal bool HasBom { get; }

    /// <summary>One line per changed setting, e.g. "memory_mib: 512 -> 1024".</summary>
    public IReadOnlyList<string> Changes { get; }

    /// <summary>The settings after the change, with their findings.</summary>
    public AllocatorSettings Result { get; }

    public bool IsChange => NewText != OriginalText;

    public IEnumerable<AllocatorFinding> Errors => Result.Findings.Where(f => f.Severity == AllocatorFindingSeverity.Error);

    /// <summary>The changed lines of the file, marked - and + with their line numbers.</summary>
    public string Diff => LineDiff.Format(OriginalText, NewText);
}

/// <summary>Reads, checks and rewrites allocator.yaml (atomically, with a backup of the previous file).</summary>
public static class AllocatorFile
{
    public const string DefaultPath = "/etc/nitro_enclaves/allocator.yaml";
    public const string ServiceName = "nitro-enclaves-allocator.service";

    /// <summary>The file's settings and every finding about them (all warnings: nothing is being set).</summary>
    public static AllocatorSettings Read(string path, string sysRoot, long? imageSize = null)
    {
        var (text, _) = ReadText(path);
        var document = AllocatorDocument.Parse(text);
        var findings = AllocatorValidator.Validate(document, CpuTopology.Read(sysRoot), new HashSet<string>(), imageSize);
        return ToSettings(path, document, findings, changed: false, backupPath: null);
    }

    /// <summary>Works out the edit and validates its result; writes nothing.</summary>
    public static AllocatorPlan Plan(string path, AllocatorChange change, string sysRoot, long? imageSize = null)
    {
        ArgumentNullException.ThrowIfNull(change);
        var (text, hasBom) = ReadText(path);
        var (newText, changes) = AllocatorEditor.Apply(AllocatorDocument.Parse(text), change);
        var edited = AllocatorDocument.Parse(newText);
        var findings = AllocatorValidator.Validate(edited, CpuTopology.Read(sysRoot), change.Keys, imageSize);
        return new AllocatorPlan(path, text, newText, hasBom, changes, ToSettings(path, edited, findings, changed: false, backupPath: null));
    }

    /// <summary>
    /// Writes a plan that has no errors: a backup copy of the current file, then the new text to a temporary file in the
    /// same directory with the old file's mode, flushed to disk and renamed over the original. Returns the settings now
    /// in effect. <paramref name="beforeRename"/> runs just before the rename (tests use it to simulate a failure there).
    /// </summary>
    public static AllocatorSettings Commit(AllocatorPlan plan, DateTimeOffset now, Action<string>? beforeRename = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Errors.FirstOrDefault() is { } error)
        {
            throw new NitroEnclaveException(error.ErrorId, ErrorKind.InvalidArgument, error.Message);
        }

        if (!plan.IsChange)
        {
            return plan.Result;
        }

        var (current, _) = ReadText(plan.Path);
        if (current != plan.OriginalText)
        {
            throw new NitroEnclaveException(AllocatorErrors.WriteFailed, ErrorKind.InvalidOperation, $"'{plan.Path}' changed while it was being edited; nothing was written. Run the command again.");
        }

        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(plan.Path))!;
        var backup = BackupName(plan.Path, now);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(plan.Path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.Copy(plan.Path, backup, overwrite: false);
            var mode = OperatingSystem.IsWindows() ? (UnixFileMode?)null : File.GetUnixFileMode(plan.Path);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (mode is { } m && !OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = m;
            }

            using (var stream = new FileStream(temp, options))
            {
                var bytes = new UTF8Encoding(plan.HasBom).GetPreamble().Concat(Encoding.UTF8.GetBytes(plan.NewText)).ToArray();
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            if (mode is { } exact && !OperatingSystem.IsWindows())
            {
                // UnixCreateMode is filtered by the umask; set the old mode exactly.
                File.SetUnixFileMode(temp, exact);
            }

            beforeRename?.Invoke(temp);
            File.Move(temp, plan.Path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            throw new NitroEnclaveException(AllocatorErrors.WriteFailed, ErrorKind.InvalidOperation, $"Cannot write '{plan.Path}': {ex.Message} The file was left as it was.", ex);
        }

        var r = plan.Result;
        return new AllocatorSettings(r.Path, r.MemoryMiB, r.CpuCount, r.CpuPool, r.Findings, changed: true, backup);
    }

    /// <summary>
    /// Restarts nitro-enclaves-allocator.service with systemctl so the new settings take effect. The service refuses
    /// while an enclave runs; its message is passed on.
    /// </summary>
    public static void RestartService(CancellationToken cancellationToken)
    {
        var systemctl = ExternalProcess.FindOnPath("systemctl")
            ?? throw new NitroEnclaveException(AllocatorErrors.SystemctlNotFound, ErrorKind.NotFound, $"systemctl was not found on PATH, so {ServiceName} cannot be restarted; restart it by hand for the settings to take effect.");
        var result = ExternalProcess.Run(systemctl, ["restart", ServiceName], cancellationToken)
            ?? throw new NitroEnclaveException(AllocatorErrors.SystemctlNotFound, ErrorKind.NotFound, $"systemctl at '{systemctl}' cannot be started.");
        if (result.ExitCode == 0)
        {
            return;
        }

        var detail = result.StandardError.Trim();
        // systemctl exits with 5 ("not installed") when the unit does not exist.
        if (result.ExitCode == 5 || detail.Contains("not found", StringComparison.OrdinalIgnoreCase))
        {
            throw new NitroEnclaveException(AllocatorErrors.ServiceNotFound, ErrorKind.NotFound, $"{ServiceName} is not installed (systemctl exit code {result.ExitCode}: {detail}). Install aws-nitro-enclaves-cli.");
        }

        throw new NitroEnclaveException(AllocatorErrors.RestartFailed, ErrorKind.InvalidOperation, $"Restarting {ServiceName} failed with exit code {result.ExitCode}: {detail} (it fails while an enclave runs).");
    }

    /// <summary>allocator.yaml.20260102T030405Z.bak, with a counter when that name is taken.</summary>
    private static string BackupName(string path, DateTimeOffset now)
    {
        var stamp = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var candidate = $"{path}.{stamp}.bak";
        for (var i = 1; File.Exists(candidate); i++)
        {
            candidate = $"{path}.{stamp}-{i}.bak";
        }

        return candidate;
    }

    private static (string Text, bool HasBom) ReadText(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new NitroEnclaveException(AllocatorErrors.FileNotFound, ErrorKind.NotFound, $"The allocator file '{path}' does not exist. Is aws-nitro-enclaves-cli installed?", ex);
        }

        var hasBom = bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble);
        try
        {
            var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, hasBom ? 3 : 0, bytes.Length - (hasBom ? 3 : 0));
            return (text, hasBom);
        }
        catch (DecoderFallbackException ex)
        {
            throw new NitroEnclaveException(AllocatorErrors.FileInvalid, ErrorKind.InvalidData, $"The allocator file '{path}' is not UTF-8 text.", ex);
        }
    }

    private static AllocatorSettings ToSettings(string path, AllocatorDocument document, IReadOnlyList<AllocatorFinding> findings, bool changed, string? backupPath) =>
        new(
            path,
            AllocatorValidator.ParsePositive(document.ValueOf(MemoryKey)),
            AllocatorValidator.ParsePositive(document.ValueOf(CpuCountKey)),
            document.ValueOf(CpuPoolKey),
            findings,
            changed,
            backupPath);
}
