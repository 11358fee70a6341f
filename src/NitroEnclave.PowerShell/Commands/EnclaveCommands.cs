using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NitroEnclave.Eif;
using NitroEnclave.Enclave;
using NitroEnclave.Simulation;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>Runs nitro-cli calls: finds it once, passes its progress text on as verbose output, maps its failures.</summary>
public abstract class NitroCliCommandBase : NitroEnclaveCmdlet
{
    private NitroCli? _cli;

    protected NitroCli Cli(object? target)
    {
        if (_cli is null)
        {
            try
            {
                _cli = NitroCli.Locate();
            }
            catch (NitroEnclaveException ex)
            {
                ThrowTerminatingError(ToErrorRecord(ex, target));
            }
        }

        return _cli!;
    }

    /// <summary>Runs one nitro-cli call; a failure ends the command (false) or, with <paramref name="perItem"/>, is reported and skipped.</summary>
    protected bool TryRun<T>(Func<NitroCli, T> call, object? target, out T result, bool perItem = false) =>
        TryRun((cli, _) => call(cli), target, out result, perItem);

    /// <summary>
    /// As TryRun, for calls that report progress: nitro-cli runs on a worker thread, and each line it prints is written
    /// here, on the pipeline thread, as verbose text and a progress record the moment it arrives.
    /// </summary>
    protected bool TryRun<T>(Func<NitroCli, Action<string>, T> call, object? target, out T result, bool perItem = false, string? activity = null)
    {
        var cli = Cli(target);
        result = default!;
        using var lines = new System.Collections.Concurrent.BlockingCollection<string>();
        var work = Task.Run(() =>
        {
            try
            {
                return call(cli, lines.Add);
            }
            finally
            {
                lines.CompleteAdding();
            }
        });
        var progress = new ProgressRecord(2, activity ?? "nitro-cli", "Running");
        foreach (var line in lines.GetConsumingEnumerable())
        {
            WriteVerbose(line);
            if (activity is not null && line.Trim().Length > 0)
            {
                progress.StatusDescription = line.Trim();
                WriteProgress(progress);
            }
        }

        if (activity is not null)
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }

        try
        {
            result = work.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (NitroEnclaveException ex)
        {
            if (!perItem)
            {
                ThrowTerminatingError(ToErrorRecord(ex, target));
            }

            WriteError(ToErrorRecord(ex, target));
            return false;
        }

        return true;
    }

    protected string Resolve(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
}

/// <summary>
/// <para type="synopsis">Builds an Enclave Image File, from a Docker image with nitro-cli build-enclave, or reproducibly without Docker or nitro-cli (-Reproducible), and returns its measurements.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "EnclaveImage", SupportsShouldProcess = true, DefaultParameterSetName = DockerSet)]
[OutputType(typeof(EnclaveMeasurements))]
public sealed class NewEnclaveImageCommand : NitroCliCommandBase
{
    private const string DockerSet = "Docker";
    private const string ReproducibleSet = "Reproducible";

    /// <summary>The Docker image to package, e.g. myapp:latest.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = DockerSet)]
    [ValidateNotNullOrEmpty]
    public string DockerUri { get; set; } = string.Empty;

    /// <summary>Build the image directly, as a pure function of the blobs and the server folder.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ReproducibleSet)]
    public SwitchParameter Reproducible { get; set; }

    /// <summary>nitro-cli's blob folder: bzImage (Image on aarch64), its .config, cmdline, init, nsm.ko.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ReproducibleSet)]
    [ValidateNotNullOrEmpty]
    public string BlobPath { get; set; } = string.Empty;

    /// <summary>The enclave server's folder; default: the NativeAOT server this module ships (the one the simulation measures).</summary>
    [Parameter(ParameterSetName = ReproducibleSet)]
    [ValidateNotNullOrEmpty]
    public string? ServerPath { get; set; }

    /// <summary>The system files of the enclave's root (loader, libraries, CA bundle); default: the ones this module ships.</summary>
    [Parameter(ParameterSetName = ReproducibleSet)]
    [ValidateNotNullOrEmpty]
    public string? RootfsPath { get; set; }

    /// <summary>Where to write the .eif file.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = DockerSet)]
    [Parameter(Mandatory = true, ParameterSetName = ReproducibleSet)]
    [ValidateNotNullOrEmpty]
    public string OutputPath { get; set; } = string.Empty;

    /// <summary>PEM certificate to sign the image with (adds PCR8); needs -PrivateKey, or -SigningKey with -Reproducible.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningCertificate { get; set; }

    /// <summary>PEM private key of the signing certificate.</summary>
    [Parameter(ParameterSetName = DockerSet)]
    [ValidateNotNullOrEmpty]
    public string? PrivateKey { get; set; }

    /// <summary>PEM ECDSA private key of the signing certificate (-Reproducible).</summary>
    [Parameter(ParameterSetName = ReproducibleSet)]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override void ProcessRecord()
    {
        var output = Resolve(OutputPath);
        var certificate = SigningCertificate is null ? null : Resolve(SigningCertificate);
        if (ParameterSetName == ReproducibleSet)
        {
            BuildReproducibly(output, certificate);
            return;
        }

        var key = PrivateKey is null ? null : Resolve(PrivateKey);
        if (!ShouldProcess(output, $"Build enclave image from '{DockerUri}'"))
        {
            return;
        }

        if (TryRun((cli, progress) => cli.BuildEnclave(DockerUri, output, certificate, key, CancellationToken, progress), output, out var measurements, activity: $"Building {Path.GetFileName(output)}"))
        {
            WriteObject(measurements);
        }
    }

    private void BuildReproducibly(string output, string? certificate)
    {
        var blobs = Resolve(BlobPath);
        var module = Path.GetDirectoryName(typeof(NewEnclaveImageCommand).Assembly.Location)!;
        var server = ServerPath is null ? EnclaveImageInputs.ServerPath(module) : Resolve(ServerPath);
        var rootfs = RootfsPath is null ? EnclaveImageInputs.RootfsPath(module) : Resolve(RootfsPath);
        if (!ShouldProcess(output, $"Build enclave image from the blobs in '{blobs}', the server in '{server}' and the root in '{rootfs}'"))
        {
            return;
        }

        try
        {
            WriteVerbose($"Kernel, command line, init and nsm.ko from '{blobs}'; server from '{server}'; system files from '{rootfs}'.");
            var image = ReproducibleImage.Build(
                new ReproducibleImageOptions
                {
                    BlobPath = blobs,
                    ServerPath = server,
                    RootfsPath = rootfs,
                    OutputPath = output,
                    SigningCertificatePath = certificate,
                    SigningKeyPath = SigningKey is null ? null : Resolve(SigningKey),
                },
                CancellationToken);
            WriteVerbose($"Wrote '{output}' ({image.Size} bytes, build time {image.BuildMetadata?.BuildTime}).");
            WriteObject(image.Measurements);
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, output));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ToErrorRecord(ex, "EnclaveImageWriteFailed", ErrorCategory.WriteError, output));
        }
    }
}

/// <summary>
/// <para type="synopsis">Starts an enclave from an Enclave Image File with nitro-cli run-enclave.</para>
/// <para type="description">-MemoryMiB defaults to the smallest size nitro-cli accepts for the image: four times its size, rounded up to a whole MiB.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "Enclave", SupportsShouldProcess = true)]
[OutputType(typeof(EnclaveInfo))]
public sealed class StartEnclaveCommand : NitroCliCommandBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Path", "EifPath")]
    [ValidateNotNullOrEmpty]
    public string ImagePath { get; set; } = string.Empty;

    /// <summary>vCPUs for the enclave (whole cores; taken from the allocator's reservation).</summary>
    [Parameter]
    public int CpuCount { get; set; } = 2;

    /// <summary>Memory in MiB; defaults to four times the image size.</summary>
    [Parameter]
    public long? MemoryMiB { get; set; }

    /// <summary>The vsock CID to give the enclave (4 or more); nitro-cli picks one when omitted.</summary>
    [Parameter]
    public ulong? Cid { get; set; }

    /// <summary>Run in debug mode: console access, and attestation documents with all-zero PCRs.</summary>
    [Parameter]
    public SwitchParameter DebugMode { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var image = Resolve(ImagePath);
        var options = new EnclaveRunOptions { ImagePath = image, CpuCount = CpuCount, MemoryMiB = MemoryMiB, Cid = Cid, DebugMode = DebugMode, Name = Name };
        long memory = 0;
        try
        {
            memory = MemoryMiB ?? NitroCli.MinimumMemoryMiB(image);
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, image));
        }

        if (!ShouldProcess(image, $"Start enclave with {CpuCount} CPUs and {memory} MiB{(DebugMode ? " in debug mode" : string.Empty)}"))
        {
            return;
        }

        if (TryRun((cli, progress) => cli.RunEnclave(options, CancellationToken, progress), image, out var enclave, activity: $"Starting {Path.GetFileName(image)}"))
        {
            WriteObject(enclave);
        }
    }
}

/// <summary>
/// <para type="synopsis">Lists the enclaves on this instance (nitro-cli describe-enclaves), with their vsock CIDs.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "Enclave")]
[OutputType(typeof(EnclaveInfo))]
public sealed class GetEnclaveCommand : NitroCliCommandBase
{
    /// <summary>Only enclaves whose name matches (wildcards allowed).</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(EnclaveNameCompleter))]
    public string? Name { get; set; }

    protected override void EndProcessing()
    {
        var pattern = Name is null ? null : new WildcardPattern(Name, WildcardOptions.IgnoreCase);
        var listed = new List<EnclaveInfo>();
        var simulation = SimulationRegistry.Current(Runspace.DefaultRunspace);
        if (simulation is not null)
        {
            listed.AddRange(simulation.DescribeEnclaves());
        }

        // Where the simulation runs there is usually no nitro-cli: its enclave is then the only one to list.
        if (simulation is null || ExternalProcess.FindOnPath(NitroCli.ExecutableName) is not null)
        {
            if (!TryRun(cli => cli.DescribeEnclaves(CancellationToken), "describe-enclaves", out var enclaves))
            {
                return;
            }

            listed.AddRange(enclaves);
        }

        foreach (var enclave in listed)
        {
            if (pattern is null || pattern.IsMatch(enclave.EnclaveName ?? string.Empty))
            {
                WriteObject(enclave);
            }
        }
    }
}

/// <summary>
/// <para type="synopsis">Terminates enclaves (nitro-cli terminate-enclave), by id, from Get-Enclave through the pipeline, or all with -All.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "Enclave", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = IdSet)]
[OutputType(typeof(EnclaveTermination))]
public sealed class StopEnclaveCommand : NitroCliCommandBase
{
    private const string IdSet = "Id";
    private const string AllSet = "All";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("EnclaveID")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(EnclaveIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = AllSet)]
    public SwitchParameter All { get; set; }

    /// <summary>Terminate without asking for confirmation (-WhatIf still only says what would be terminated).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == AllSet)
        {
            if (ShouldProcessUnlessForced(Force, "all enclaves", "Terminate") && TryRun(cli => cli.TerminateEnclave(null, CancellationToken), "all enclaves", out var all))
            {
                WriteObject(all, enumerateCollection: true);
            }

            return;
        }

        foreach (var id in Id)
        {
            if (id.StartsWith(EnclaveSimulation.EnclaveIdPrefix, StringComparison.Ordinal))
            {
                WriteError(ToErrorRecord(new NitroEnclaveException(EnclaveErrors.SimulatedEnclave, ErrorKind.InvalidOperation,
                    $"Enclave {id} is the simulated enclave of Start-EnclaveSimulation; stop it with Stop-EnclaveSimulation."), id));
                continue;
            }

            if (ShouldProcessUnlessForced(Force, id, "Terminate enclave") && TryRun(cli => cli.TerminateEnclave(id, CancellationToken), id, out var result, perItem: true))
            {
                WriteObject(result, enumerateCollection: true);
            }
        }
    }
}
