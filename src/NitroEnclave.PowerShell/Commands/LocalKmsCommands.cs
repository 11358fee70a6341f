using System.Collections.Concurrent;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NitroEnclave.Kms;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>Where the module keeps the local KMS server and its default data.</summary>
internal static class LocalKmsLocations
{
    public static string ServerDirectory(PSCmdlet cmdlet) =>
        Path.Combine(cmdlet.MyInvocation.MyCommand.Module?.ModuleBase ?? Path.GetDirectoryName(typeof(LocalKmsLocations).Assembly.Location)!, "localkms");

    public static string DefaultDataPath() =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "NitroEnclave", "localkms");
}

/// <summary>
/// The local KMS servers each PowerShell session started. Like the simulation's, they stop when the session closes,
/// the module is removed or the process ends, and Stop-LocalKms without arguments stops them.
/// </summary>
internal static class LocalKmsRegistry
{
    private static readonly ConcurrentDictionary<Guid, ConcurrentDictionary<int, LocalKmsInstance>> Started = new();

    static LocalKmsRegistry() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var id in Started.Keys)
        {
            StopAll(id);
        }
    };

    public static void Add(Runspace runspace, LocalKmsInstance instance)
    {
        var servers = Started.GetOrAdd(runspace.InstanceId, _ =>
        {
            runspace.StateChanged += (_, e) =>
            {
                if (e.RunspaceStateInfo.State is RunspaceState.Closing or RunspaceState.Closed or RunspaceState.Broken)
                {
                    StopAll(runspace.InstanceId);
                }
            };
            return new ConcurrentDictionary<int, LocalKmsInstance>();
        });
        servers[instance.ProcessId] = instance;
    }

    public static IReadOnlyList<LocalKmsInstance> StartedBy(Runspace runspace) =>
        Started.TryGetValue(runspace.InstanceId, out var servers) ? [.. servers.Values.OrderBy(s => s.ProcessId)] : [];

    public static void Forget(Runspace runspace, int processId)
    {
        if (Started.TryGetValue(runspace.InstanceId, out var servers))
        {
            servers.TryRemove(processId, out _);
        }
    }

    /// <summary>Stops every server the session started, quietly: the ones already gone count as stopped.</summary>
    public static void StopAll(Guid runspaceId)
    {
        if (!Started.TryGetValue(runspaceId, out var servers))
        {
            return;
        }

        foreach (var processId in servers.Keys)
        {
            if (servers.TryRemove(processId, out _))
            {
                try
                {
                    LocalKmsProcess.Stop(processId);
                }
                catch (NitroEnclaveException)
                {
                    // Already exited, or the id now belongs to another program, which Stop refuses to touch.
                }
            }
        }
    }
}

/// <summary>Starts a local KMS-compatible endpoint on loopback and returns once it serves requests.</summary>
[Cmdlet(VerbsLifecycle.Start, "LocalKms", SupportsShouldProcess = true)]
[OutputType(typeof(LocalKmsInstance))]
public sealed class StartLocalKmsCommand : NitroEnclaveCmdlet
{
    /// <summary>The TCP port on 127.0.0.1; 0 (the default) picks a free one.</summary>
    [Parameter(Position = 0)]
    [ValidateRange(0, 65535)]
    public int Port { get; set; }

    /// <summary>Where keys, aliases, policies and principals are kept; reused across starts.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DataPath { get; set; }

    /// <summary>PEM files with the roots that Recipient attestation documents must chain to.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] TrustedRootPath { get; set; } = [];

    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(AwsRegionCompleter))]
    public string? Region { get; set; }

    [Parameter]
    [ValidatePattern(@"^\d{12}$")]
    public string? AccountId { get; set; }

    protected override void EndProcessing()
    {
        var dataPath = DataPath is null ? LocalKmsLocations.DefaultDataPath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DataPath);
        var problems = new List<ErrorRecord>();
        var roots = TrustedRootPath.SelectMany(p => FilePathResolver.Resolve(this, p, literal: false, problems.Add)).ToList();
        if (problems.Count > 0)
        {
            // Starting without a root the caller asked for would refuse every Recipient later, far from the cause.
            ThrowTerminatingError(problems[0]);
        }

        if (!ShouldProcess(dataPath, "Start local KMS"))
        {
            return;
        }

        try
        {
            var instance = LocalKmsProcess.Start(new LocalKmsStartOptions
            {
                ServerDirectory = LocalKmsLocations.ServerDirectory(this),
                DataPath = dataPath,
                Port = Port,
                TrustedRootPaths = roots,
                Region = Region,
                AccountId = AccountId,
            }, CancellationToken);
            LocalKmsRegistry.Add(Runspace.DefaultRunspace, instance);
            WriteObject(instance);
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, dataPath));
        }
    }
}

/// <summary>
/// Stops local KMS servers: pipe the objects Start-LocalKms returned, or give process ids; without either, stops the
/// servers this session started.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "LocalKms", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class StopLocalKmsCommand : NitroEnclaveCmdlet
{
    private bool _anyGiven;

    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public int[] ProcessId { get; set; } = [];

    protected override void ProcessRecord()
    {
        _anyGiven |= ProcessId.Length > 0;
        foreach (var id in ProcessId)
        {
            Stop(id);
        }
    }

    protected override void EndProcessing()
    {
        if (_anyGiven)
        {
            return;
        }

        var started = LocalKmsRegistry.StartedBy(Runspace.DefaultRunspace);
        if (started.Count == 0)
        {
            WriteError(ToErrorRecord(new NitroEnclaveException(KmsErrors.LocalKmsNotRunning, ErrorKind.NotFound,
                "This session started no local KMS that is still registered; give -ProcessId to stop another one."), null));
            return;
        }

        foreach (var server in started)
        {
            Stop(server.ProcessId);
        }
    }

    private void Stop(int id)
    {
        if (!ShouldProcess($"local KMS process {id}", "Stop"))
        {
            return;
        }

        try
        {
            LocalKmsProcess.Stop(id);
            LocalKmsRegistry.Forget(Runspace.DefaultRunspace, id);
        }
        catch (NitroEnclaveException ex)
        {
            if (ex.ErrorId == KmsErrors.LocalKmsNotRunning)
            {
                LocalKmsRegistry.Forget(Runspace.DefaultRunspace, id);
            }

            WriteItemError(ex, id);
        }
    }
}

/// <summary>Adds a principal (for example the parent instance's role) with its own access key to a local KMS data path.</summary>
[Cmdlet(VerbsCommon.Add, "LocalKmsPrincipal", SupportsShouldProcess = true)]
[OutputType(typeof(LocalKmsPrincipal))]
public sealed class AddLocalKmsPrincipalCommand : NitroEnclaveCmdlet
{
    /// <summary>The principal's ARN, for example arn:aws:iam::111122223333:role/ParentInstance.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public string[] Arn { get; set; } = [];

    /// <summary>The server's data path; pipe a Start-LocalKms object to use its own.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? DataPath { get; set; }

    protected override void ProcessRecord()
    {
        var dataPath = DataPath is null ? LocalKmsLocations.DefaultDataPath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DataPath);
        foreach (var arn in Arn)
        {
            if (!ShouldProcess(arn, $"Add a principal with a new access key to {dataPath}"))
            {
                continue;
            }

            try
            {
                WriteObject(LocalKmsProcess.AddPrincipal(LocalKmsLocations.ServerDirectory(this), dataPath, arn));
            }
            catch (NitroEnclaveException ex)
            {
                WriteItemError(ex, arn);
            }
        }
    }
}

/// <summary>Defines a role in a local KMS data path: AssumeRole and AssumeRoleWithWebIdentity on the server's port issue sessions of it.</summary>
[Cmdlet(VerbsCommon.Add, "LocalKmsRole", SupportsShouldProcess = true)]
[OutputType(typeof(LocalKmsRole))]
public sealed class AddLocalKmsRoleCommand : NitroEnclaveCmdlet
{
    /// <summary>The role's ARN, for example arn:aws:iam::111122223333:role/KeyAdmin.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Arn { get; set; } = string.Empty;

    /// <summary>Who may call AssumeRole for it: principal ARNs, account ids or account root ARNs. Without it (and without -WebIdentitySubject), the role's own account.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] TrustedPrincipal { get; set; } = [];

    /// <summary>The sub claims of New-LocalKmsWebIdentityToken tokens that may assume it with AssumeRoleWithWebIdentity; "*" for any.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] WebIdentitySubject { get; set; } = [];

    /// <summary>The longest session, in seconds (3600 to 43200; 3600 by default).</summary>
    [Parameter]
    [ValidateRange(3600, 43200)]
    public int? MaxSessionDuration { get; set; }

    /// <summary>The server's data path; pipe a Start-LocalKms object to use its own.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? DataPath { get; set; }

    protected override void ProcessRecord()
    {
        var dataPath = DataPath is null ? LocalKmsLocations.DefaultDataPath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DataPath);
        if (!ShouldProcess(Arn, $"Define the role in {dataPath}"))
        {
            return;
        }

        try
        {
            WriteObject(LocalKmsProcess.AddRole(LocalKmsLocations.ServerDirectory(this), dataPath, Arn, TrustedPrincipal, WebIdentitySubject, MaxSessionDuration));
        }
        catch (NitroEnclaveException ex)
        {
            WriteItemError(ex, Arn);
        }
    }
}

/// <summary>Issues a web identity token from a local KMS's own provider, for AssumeRoleWithWebIdentity (a web identity profile's token file).</summary>
[Cmdlet(VerbsCommon.New, "LocalKmsWebIdentityToken")]
[OutputType(typeof(string))]
public sealed class NewLocalKmsWebIdentityTokenCommand : NitroEnclaveCmdlet
{
    /// <summary>The token's sub claim, which a role's -WebIdentitySubject must name.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Subject { get; set; } = string.Empty;

    /// <summary>How long the token is valid; one hour by default.</summary>
    [Parameter]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The server's data path; pipe a Start-LocalKms object to use its own.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? DataPath { get; set; }

    protected override void ProcessRecord()
    {
        var dataPath = DataPath is null ? LocalKmsLocations.DefaultDataPath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DataPath);
        try
        {
            WriteObject(LocalKmsProcess.NewWebIdentityToken(LocalKmsLocations.ServerDirectory(this), dataPath, Subject, Lifetime));
        }
        catch (NitroEnclaveException ex)
        {
            WriteItemError(ex, Subject);
        }
    }
}
