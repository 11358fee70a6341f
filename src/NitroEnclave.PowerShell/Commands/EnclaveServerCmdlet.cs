using System.Management.Automation;
using NitroEnclave.Enclave;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// Cmdlets that talk to the enclave server. The server is named by -Endpoint (tcp://, unix:, vsock://), by -Cid and
/// -Port, by -EnclaveName, or found as the only running enclave through nitro-cli describe-enclaves.
/// </summary>
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
    public string? EnclaveName { get; set; }

    /// <summary>The server's vsock port.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Port { get; set; } = EnclaveProtocol.DefaultPort;

    /// <summary>Seconds to wait for each answer.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = 120;

    /// <summary>The endpoint these parameters name; a bad combination or no enclave found ends the command.</summary>
    protected EnclaveEndpoint ResolveEndpoint()
    {
        try
        {
            if (Endpoint is not null)
            {
                if (Cid is not null || EnclaveName is not null)
                {
                    throw new NitroEnclaveException("EndpointConflict", ErrorKind.InvalidArgument, "Give either -Endpoint, or -Cid, or -EnclaveName, not several.");
                }

                return EnclaveEndpoint.Parse(Endpoint);
            }

            if (Cid is { } cid)
            {
                return EnclaveName is null
                    ? EnclaveEndpoint.Vsock(cid, Port)
                    : throw new NitroEnclaveException("EndpointConflict", ErrorKind.InvalidArgument, "Give either -Cid or -EnclaveName, not both.");
            }

            WriteVerbose("Looking for the enclave with nitro-cli describe-enclaves.");
            return EnclaveLocator.Locate(NitroCli.Locate().DescribeEnclaves(CancellationToken), EnclaveName, Port);
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, Endpoint ?? EnclaveName ?? (object?)Cid));
            throw;
        }
    }

    protected EnclaveClient CreateClient(EnclaveEndpoint endpoint) => new(endpoint, TimeSpan.FromSeconds(TimeoutSec));

    /// <summary>Runs an async call to completion on the pipeline thread; Ctrl+C cancels it.</summary>
    protected T Wait<T>(Task<T> task)
    {
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }
}
