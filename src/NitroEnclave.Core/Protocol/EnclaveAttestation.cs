using System.Security.Cryptography;
using NitroEnclave.Attestation;

namespace NitroEnclave.Protocol;

/// <summary>A fresh attestation document fetched from an enclave server, with the nonce it was asked to carry.</summary>
public sealed class EnclaveAttestation
{
    public EnclaveAttestation(byte[] document, byte[] nonce, string endpoint, DateTimeOffset retrievedAt)
    {
        Document = document;
        Nonce = nonce;
        Endpoint = endpoint;
        RetrievedAt = retrievedAt;
    }

    /// <summary>The COSE_Sign1 document bytes, ready for Test-EnclaveAttestation.</summary>
    public byte[] Document { get; }

    /// <summary>The random nonce sent with the request; the document was checked to carry it.</summary>
    public byte[] Nonce { get; }

    public string Endpoint { get; }

    public DateTimeOffset RetrievedAt { get; }

    public override string ToString() => FormattableString.Invariant($"{Document.Length}-byte attestation document from {Endpoint} at {RetrievedAt:u}");

    /// <summary>
    /// Asks the server for a document bound to a fresh 32-byte random nonce and checks that the document carries it,
    /// so a replayed or substituted document is caught here.
    /// </summary>
    public static async Task<EnclaveAttestation> FetchAsync(EnclaveClient client, byte[]? userData, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var nonce = RandomNumberGenerator.GetBytes(32);
        var bytes = await client.AttestAsync(new AttestRequest { Nonce = nonce, UserData = userData }, cancellationToken).ConfigureAwait(false);
        var document = AttestationDocument.Parse(bytes);
        if (document.Nonce is null || !CryptographicOperations.FixedTimeEquals(document.Nonce, nonce))
        {
            throw new NitroEnclaveException("AttestationNonceMismatch", ErrorKind.SecurityError, $"The document from {client.Endpoint} does not carry the nonce it was asked for: it may be replayed.");
        }

        return new EnclaveAttestation(bytes, nonce, client.Endpoint.ToString(), DateTimeOffset.UtcNow);
    }
}
