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
        try
        {
            // The simulation's session default -Endpoint yields to an enclave named on the command line, as its
            // default -Credential yields to explicit credentials; -EnclaveName simulation is its enclave.
            var simulation = SimulationRegistry.Current(System.Management.Automation.Runspaces.Runspace.DefaultRunspace);
            if (simulation is not null && endpoint == simulation.EnclaveEndpoint && (cid is not null || enclaveName is not null))
            {
                endpoint = null;
            }

            if (simulation is not null && endpoint is null && cid is null && string.Equals(enclaveName, Simulation.EnclaveSimulation.EnclaveName, StringComparison.OrdinalIgnoreCase))
            {
                return EnclaveEndpoint.Parse(simulation.EnclaveEndpoint);
            }

            if (endpoint is not null)
            {
                if (cid is not null || enclaveName is not null)
                {
                    throw new NitroEnclaveException("EndpointConflict", ErrorKind.InvalidArgument, "Give either -Endpoint, or -Cid, or -EnclaveName, not several.");
                }

                return EnclaveEndpoint.Parse(endpoint);
            }

            if (cid is { } vsockCid)
            {
                return enclaveName is null
                    ? EnclaveEndpoint.Vsock(vsockCid, port)
                    : throw new NitroEnclaveException("EndpointConflict", ErrorKind.InvalidArgument, "Give either -Cid or -EnclaveName, not both.");
            }

            cmdlet.WriteVerbose("Looking for the enclave with nitro-cli describe-enclaves.");
            return EnclaveLocator.Locate(NitroCli.Locate().DescribeEnclaves(cancellationToken), enclaveName, port);
        }
        catch (NitroEnclaveException ex)
        {
            cmdlet.ThrowTerminatingError(NitroEnclaveCmdlet.ToErrorRecord(ex, endpoint ?? enclaveName ?? (object?)cid));
            throw;
        }
    }

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
