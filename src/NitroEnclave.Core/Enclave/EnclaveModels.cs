using NitroEnclave.Eif;

namespace NitroEnclave.Enclave;

/// <summary>
/// One enclave as nitro-cli run-enclave and describe-enclaves report it. EnclaveCID is the vsock address the parent
/// uses to reach the enclave (4 or more; the parent itself is 3).
/// </summary>
public sealed class EnclaveInfo
{
    internal EnclaveInfo(string? enclaveName, string enclaveId, int? processId, ulong enclaveCid, int numberOfCpus, IReadOnlyList<int> cpuIds, long memoryMiB, string? state, string? flags, EnclaveMeasurements? measurements, string? endpoint = null)
    {
        Endpoint = endpoint;
        EnclaveName = enclaveName;
        EnclaveID = enclaveId;
        ProcessID = processId;
        EnclaveCID = enclaveCid;
        NumberOfCPUs = numberOfCpus;
        CPUIDs = cpuIds;
        MemoryMiB = memoryMiB;
        State = state;
        Flags = flags;
        Measurements = measurements;
    }

    public string? EnclaveName { get; }

    public string EnclaveID { get; }

    public int? ProcessID { get; }

    public ulong EnclaveCID { get; }

    public int NumberOfCPUs { get; }

    public IReadOnlyList<int> CPUIDs { get; }

    public long MemoryMiB { get; }

    /// <summary>RUNNING, TERMINATING or EMPTY (describe-enclaves); null for run-enclave output, which does not say.</summary>
    public string? State { get; }

    /// <summary>DEBUG_MODE or NONE (describe-enclaves); null when not reported.</summary>
    public string? Flags { get; }

    /// <summary>True when the enclave runs in debug mode: its attestation documents carry all-zero PCRs.</summary>
    public bool IsDebugMode => string.Equals(Flags, "DEBUG_MODE", StringComparison.Ordinal);

    /// <summary>The running image's PCRs, when describe-enclaves reports them.</summary>
    public EnclaveMeasurements? Measurements { get; }

    /// <summary>
    /// Where the enclave server listens, for Invoke-EnclaveDetection -Endpoint: set for the simulated enclave (a
    /// loopback or Unix socket); null for a real enclave, which is reached at vsock://EnclaveCID:port.
    /// </summary>
    public string? Endpoint { get; }

    /// <summary>True for the enclave an Start-EnclaveSimulation runs: a process on this machine, not a Nitro enclave.</summary>
    public bool IsSimulated => Endpoint is not null;

    /// <summary>For example "model i-0abc12345def67890-enc0123456789abcdef (CID 16, RUNNING)": the id whole, as Stop-Enclave takes it.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"{(EnclaveName is null ? string.Empty : EnclaveName + " ")}{EnclaveID} ({(IsSimulated ? Endpoint : $"CID {EnclaveCID}")}{(State is null ? string.Empty : ", " + State)}{(IsDebugMode ? ", debug mode" : string.Empty)})");
}

/// <summary>The result of nitro-cli terminate-enclave for one enclave.</summary>
public sealed class EnclaveTermination
{
    internal EnclaveTermination(string? enclaveName, string enclaveId, bool terminated)
    {
        EnclaveName = enclaveName;
        EnclaveID = enclaveId;
        Terminated = terminated;
    }

    public string? EnclaveName { get; }

    public string EnclaveID { get; }

    public bool Terminated { get; }

    public override string ToString() => $"{(EnclaveName is null ? string.Empty : EnclaveName + " ")}{EnclaveID} {(Terminated ? "terminated" : "not terminated")}";
}

/// <summary>What run-enclave needs; MemoryMiB null means the smallest size the image accepts.</summary>
public sealed class EnclaveRunOptions
{
    public required string ImagePath { get; init; }

    public int CpuCount { get; init; } = 2;

    public long? MemoryMiB { get; init; }

    /// <summary>The vsock CID to ask for; null lets nitro-cli choose.</summary>
    public ulong? Cid { get; init; }

    public bool DebugMode { get; init; }

    public string? Name { get; init; }
}
