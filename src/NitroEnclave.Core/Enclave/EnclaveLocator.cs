using NitroEnclave.Protocol;

namespace NitroEnclave.Enclave;

/// <summary>Finds the enclave to talk to among the ones nitro-cli describe-enclaves reports.</summary>
public static class EnclaveLocator
{
    public const string NotFound = "EnclaveNotFound";
    public const string Ambiguous = "EnclaveAmbiguous";

    /// <summary>
    /// The vsock endpoint of the running enclave named <paramref name="name"/>, or of the only running enclave when no
    /// name is given. None, or several without a name, is a clear error listing what is running.
    /// </summary>
    public static EnclaveEndpoint Locate(IReadOnlyList<EnclaveInfo> enclaves, string? name, int port)
    {
        var running = Running(enclaves);
        var matches = name is null ? running : running.Where(e => string.Equals(e.EnclaveName, name, StringComparison.Ordinal)).ToList();
        return matches.Count switch
        {
            1 => EndpointOf(matches[0], port),
            0 when name is not null => throw new NitroEnclaveException(NotFound, ErrorKind.NotFound, $"No running enclave is named '{name}'. Running: {Describe(running)}."),
            0 => throw new NitroEnclaveException(NotFound, ErrorKind.NotFound, "No enclave is running (nitro-cli describe-enclaves lists none). Start one with Start-Enclave, or give -Endpoint or -Cid."),
            _ => throw new NitroEnclaveException(Ambiguous, ErrorKind.InvalidArgument, $"{matches.Count} enclaves are running ({Describe(matches)}); choose one with -EnclaveName or -Cid."),
        };
    }

    /// <summary>
    /// The endpoints of the running enclaves each of <paramref name="names"/> matches (wildcards * and ? allowed, so
    /// '*' is every running enclave), in the order given, without repeats. A name that matches none is an error.
    /// </summary>
    public static IReadOnlyList<EnclaveEndpoint> LocateAll(IReadOnlyList<EnclaveInfo> enclaves, IEnumerable<string> names, int port)
    {
        ArgumentNullException.ThrowIfNull(names);
        var running = Running(enclaves);
        var chosen = new List<EnclaveInfo>();
        foreach (var name in names)
        {
            var matches = running.Where(e => e.EnclaveName is not null && System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(name, e.EnclaveName, ignoreCase: false)).ToList();
            if (matches.Count == 0)
            {
                throw new NitroEnclaveException(NotFound, ErrorKind.NotFound, $"No running enclave is named '{name}'. Running: {Describe(running)}.");
            }

            chosen.AddRange(matches.Where(m => !chosen.Contains(m)));
        }

        return [.. chosen.Select(e => EndpointOf(e, port))];
    }

    /// <summary>Where an enclave's server listens: the simulated enclave's own endpoint, a real one's vsock CID.</summary>
    public static EnclaveEndpoint EndpointOf(EnclaveInfo enclave, int port)
    {
        ArgumentNullException.ThrowIfNull(enclave);
        return enclave.Endpoint is { } endpoint ? EnclaveEndpoint.Parse(endpoint) : EnclaveEndpoint.Vsock((uint)enclave.EnclaveCID, port);
    }

    /// <summary>The enclaves in the RUNNING state.</summary>
    public static IReadOnlyList<EnclaveInfo> Running(IReadOnlyList<EnclaveInfo> enclaves)
    {
        ArgumentNullException.ThrowIfNull(enclaves);
        return enclaves.Where(e => string.Equals(e.State, "RUNNING", StringComparison.OrdinalIgnoreCase)).ToList();
    }

    private static string Describe(IEnumerable<EnclaveInfo> enclaves)
    {
        var list = string.Join(", ", enclaves.Select(e => $"{e.EnclaveName ?? e.EnclaveID} (CID {e.EnclaveCID})"));
        return list.Length == 0 ? "none" : list;
    }
}
