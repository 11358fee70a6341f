using System.Management.Automation;
using NitroEnclave.Allocator;
using NitroEnclave.Enclave;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>Parameters shared by the allocator cmdlets: the file, the /sys root and an image to size memory for.</summary>
public abstract class EnclaveAllocatorCommandBase : NitroEnclaveCmdlet
{
    /// <summary>The allocator configuration file.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = AllocatorFile.DefaultPath;

    /// <summary>The root under which /sys/devices/system/cpu is read ("/" on a real host).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string SysRoot { get; set; } = "/";

    /// <summary>An enclave image the memory must fit: a warning when memory_mib is under four times its size.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ImagePath { get; set; }

    protected string ResolvedPath => SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);

    protected string ResolvedSysRoot => SessionState.Path.GetUnresolvedProviderPathFromPSPath(SysRoot);

    protected long? ImageSize()
    {
        if (ImagePath is null)
        {
            return null;
        }

        var file = new FileInfo(SessionState.Path.GetUnresolvedProviderPathFromPSPath(ImagePath));
        if (!file.Exists)
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(EnclaveErrors.ImageNotFound, ErrorKind.NotFound, $"The enclave image '{file.FullName}' does not exist."), file.FullName));
        }

        return file.Length;
    }

    protected void WriteFindingWarnings(IEnumerable<AllocatorFinding> findings)
    {
        foreach (var finding in findings.Where(f => f.Severity == AllocatorFindingSeverity.Warning))
        {
            WriteWarning($"{finding.Message} ({finding.ErrorId})");
        }
    }
}

/// <summary>
/// <para type="synopsis">Shows the Nitro Enclaves allocator settings (memory and CPUs reserved for enclaves) and what is wrong with them.</para>
/// <para type="description">Reads /etc/nitro_enclaves/allocator.yaml (or -Path) and checks it the way nitro-enclaves-allocator.service does, against the host's CPU topology.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "EnclaveAllocator")]
[OutputType(typeof(AllocatorSettings))]
public sealed class GetEnclaveAllocatorCommand : EnclaveAllocatorCommandBase
{
    protected override void ProcessRecord()
    {
        var path = ResolvedPath;
        try
        {
            WriteObject(AllocatorFile.Read(path, ResolvedSysRoot, ImageSize()));
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, path));
        }
    }
}

/// <summary>
/// <para type="synopsis">Changes the memory and CPUs the Nitro Enclaves allocator reserves, keeping the file's comments and layout.</para>
/// <para type="description">Only the values that change are rewritten. Values this call sets are validated first and nothing is written when one is invalid; problems with settings it leaves alone are warnings. The previous file is kept as a timestamped .bak copy and the new one is written atomically. -Restart restarts nitro-enclaves-allocator.service so the change takes effect.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "EnclaveAllocator", SupportsShouldProcess = true, DefaultParameterSetName = MemorySet)]
[OutputType(typeof(AllocatorSettings))]
public sealed class SetEnclaveAllocatorCommand : EnclaveAllocatorCommandBase
{
    private const string MemorySet = "Memory";
    private const string CpuCountSet = "CpuCount";
    private const string CpuPoolSet = "CpuPool";

    /// <summary>Memory to reserve for enclaves, in MiB (memory_mib).</summary>
    [Parameter]
    public int? MemoryMiB { get; set; }

    /// <summary>How many CPUs to reserve (cpu_count); comments out cpu_pool.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CpuCountSet)]
    public int CpuCount { get; set; }

    /// <summary>The exact CPUs to reserve, as '2,3,6-9' or 2,3,'6-9' (cpu_pool); comments out cpu_count.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CpuPoolSet)]
    [ValidateNotNullOrEmpty]
    public string[] CpuPool { get; set; } = [];

    /// <summary>Restart nitro-enclaves-allocator.service afterwards.</summary>
    [Parameter]
    public SwitchParameter Restart { get; set; }

    /// <summary>Write the resulting settings.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var path = ResolvedPath;
        var change = new AllocatorChange(
            MemoryMiB,
            ParameterSetName == CpuCountSet ? CpuCount : null,
            ParameterSetName == CpuPoolSet ? string.Join(',', CpuPool) : null);
        if (change.Keys.Count == 0 && !Restart)
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(AllocatorErrors.NothingToSet, ErrorKind.InvalidArgument, "Give -MemoryMiB, -CpuCount or -CpuPool (or -Restart)."), path));
        }

        AllocatorSettings result;
        try
        {
            var plan = AllocatorFile.Plan(path, change, ResolvedSysRoot, ImageSize());
            var errors = plan.Errors.ToList();
            foreach (var error in errors)
            {
                WriteError(ToErrorRecord(new NitroEnclaveException(error.ErrorId, ErrorKind.InvalidArgument, error.Message), path));
            }

            if (errors.Count > 0)
            {
                return;
            }

            WriteFindingWarnings(plan.Result.Findings);
            result = plan.Result;
            if (!plan.IsChange)
            {
                WriteVerbose($"'{path}' already has these settings; nothing to change.");
            }
            else if (ShouldProcess(
                $"Change '{path}':\n{plan.Diff}",
                $"Change '{path}' ({string.Join("; ", plan.Changes)})?",
                "Set-EnclaveAllocator"))
            {
                result = AllocatorFile.Commit(plan, DateTimeOffset.UtcNow);
                WriteVerbose($"Changed '{path}': {string.Join("; ", plan.Changes)}. The previous file is saved as '{result.BackupPath}'.");
            }

        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, path));
            return;
        }

        if (Restart && ShouldProcess(AllocatorFile.ServiceName, "Restart"))
        {
            try
            {
                AllocatorFile.RestartService(CancellationToken);
                WriteVerbose($"Restarted {AllocatorFile.ServiceName}.");
            }
            catch (OperationCanceledException)
            {
                throw new PipelineStoppedException();
            }
            catch (NitroEnclaveException ex)
            {
                ThrowTerminatingError(ToErrorRecord(ex, AllocatorFile.ServiceName));
            }
        }

        if (PassThru)
        {
            WriteObject(result);
        }
    }
}
