using System.Management.Automation;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Gets a fresh attestation document from the enclave server, bound to a random nonce.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "EnclaveAttestation")]
[OutputType(typeof(EnclaveAttestation))]
public sealed class GetEnclaveAttestationCommand : EnclaveServerCmdlet
{
    /// <summary>
    /// Data the enclave should bind into the document (at most 512 bytes). There is deliberately no public key
    /// parameter: a document carrying a caller's key would make KMS seal data keys to that caller.
    /// </summary>
    [Parameter]
    [ValidateCount(0, 512)]
    public byte[]? UserData { get; set; }

    protected override void EndProcessing()
    {
        var endpoint = ResolveEndpoint();
        try
        {
            WriteObject(Wait(EnclaveAttestation.FetchAsync(CreateClient(endpoint), UserData, CancellationToken)));
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, endpoint.ToString()));
        }
    }
}
