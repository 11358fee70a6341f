using System.Management.Automation;
using NitroEnclave.Enclave;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// Finds the enclave server named by -Endpoint (tcp://, unix:, vsock://), by -Cid and -Port, by -EnclaveName, or as
/// the only running enclave through nitro-cli describe-enclaves.
/// </summary>
internal static class EnclaveTarget
{
    public static EnclaveEndpoint Resolve(Cmdlet cmdlet, string? endpoint, uint? cid, string? enclaveName, int port, CancellationToken cancellationToken)
    {
        var all = ResolveAll(cmdlet, endpoint is null ? null : [endpoint], cid is null ? null : [cid.Value], enclaveName is null ? null : [enclaveName], port, cancellationToken);
        if (all.Count > 1)
        {
            cmdlet.ThrowTerminatingError(NitroEnclaveCmdlet.ToErrorRecord(new NitroEnclaveException(EnclaveLocator.Ambiguous, ErrorKind.InvalidArgument,
                $"'{enclaveName}' names {all.Count} enclaves ({string.Join(", ", all)}); this command talks to one."), enclaveName));
        }

        return all[0];
    }

    /// <summary>
    /// The endpoints -Endpoint, -Cid or -EnclaveName name (one kind of them, each possibly several), or the only running
    /// enclave when none is given. The simulation's enclaves are found by name like nitro-cli's ("simulation",
    /// "simulation-2", or "simulation*" for all of them).
    /// </summary>
    public static IReadOnlyList<EnclaveEndpoint> ResolveAll(Cmdlet cmdlet, IReadOnlyList<string>? endpoints, IReadOnlyList<uint>? cids, IReadOnlyList<string>? enclaveNames, int port, CancellationToken cancellationToken)
    {
        try
        {
            // The simulation's session default -Endpoint yields to enclaves named on the command line, as its default
            // -Credential yields to explicit credentials.
            var simulation = SimulationRegistry.Current(System.Management.Automation.Runspaces.Runspace.DefaultRunspace);
            if (simulation is not null && endpoints is not null && IsSimulationDefault(endpoints, simulation) && (cids is not null || enclaveNames is not null))
            {
                endpoints = null;
            }

            if (new object?[] { endpoints, cids, enclaveNames }.Count(given => given is not null) > 1)
            {
                throw new NitroEnclaveException("EndpointConflict", ErrorKind.InvalidArgument, "Give either -Endpoint, or -Cid, or -EnclaveName, not several.");
            }

            if (endpoints is not null)
            {
                return [.. endpoints.Distinct(StringComparer.Ordinal).Select(EnclaveEndpoint.Parse)];
            }

            if (cids is not null)
            {
                return [.. cids.Distinct().Select(c => EnclaveEndpoint.Vsock(c, port))];
            }

            // Beside a simulation there is usually no nitro-cli: its enclaves are then the only ones (as in Get-Enclave).
            var running = new List<EnclaveInfo>(simulation?.DescribeEnclaves() ?? []);
            if (simulation is null || ExternalProcess.FindOnPath(NitroCli.ExecutableName) is not null)
            {
                cmdlet.WriteVerbose("Looking for the enclave with nitro-cli describe-enclaves.");
                running.AddRange(NitroCli.Locate().DescribeEnclaves(cancellationToken));
            }

            return enclaveNames is null ? [EnclaveLocator.Locate(running, null, port)] : EnclaveLocator.LocateAll(running, enclaveNames, port);
        }
        catch (NitroEnclaveException ex)
        {
            cmdlet.ThrowTerminatingError(NitroEnclaveCmdlet.ToErrorRecord(ex, (object?)endpoints ?? (object?)enclaveNames ?? cids));
            throw;
        }
    }

    private static bool IsSimulationDefault(IReadOnlyList<string> endpoints, Simulation.EnclaveSimulation simulation) =>
        endpoints.SequenceEqual(simulation.EnclaveEndpoints, StringComparer.Ordinal) || (endpoints.Count == 1 && endpoints[0] == simulation.EnclaveEndpoint);

    /// <summary>Runs an async call to completion on the pipeline thread; Ctrl+C (the cancellation token) stops the pipeline.</summary>
    public static T Wait<T>(Task<T> task, CancellationToken cancellationToken)
    {
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }
}

/// <summary>Cmdlets that talk to the enclave server and need no AWS parameters.</summary>
public abstract class EnclaveServerCmdlet : NitroEnclaveCmdlet
{
    /// <summary>tcp://HOST:PORT, unix:/path or vsock://CID:PORT. Start-EnclaveSimulation sets it as a session default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Endpoint { get; set; }

    /// <summary>The enclave's vsock CID (4 or more).</summary>
    [Parameter]
    [ValidateRange(4, uint.MaxValue)]
    public uint? Cid { get; set; }

    /// <summary>The name of a running enclave, as Start-Enclave -Name gave it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(EnclaveNameCompleter))]
    public string? EnclaveName { get; set; }

    /// <summary>The server's vsock port.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Port { get; set; } = EnclaveProtocol.DefaultPort;

    /// <summary>Seconds to wait for each answer.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = 120;

    protected EnclaveEndpoint ResolveEndpoint() => EnclaveTarget.Resolve(this, Endpoint, Cid, EnclaveName, Port, CancellationToken);

    protected EnclaveClient CreateClient(EnclaveEndpoint endpoint) => new(endpoint, TimeSpan.FromSeconds(TimeoutSec)) { Trace = RequestTrace };

    protected T Wait<T>(Task<T> task)
    {
        try
        {
            return EnclaveTarget.Wait(task, CancellationToken);
        }
        finally
        {
            WriteRequestTrace();
        }
    }
}
