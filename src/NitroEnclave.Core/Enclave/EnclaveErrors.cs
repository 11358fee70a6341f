namespace NitroEnclave.Enclave;

/// <summary>The stable error ids of the enclave lifecycle (nitro-cli) operations.</summary>
public static class EnclaveErrors
{
    public const string NitroCliNotFound = "NitroCliNotFound";
    public const string NitroCliFailed = "NitroCliFailed";
    public const string NitroCliOutputInvalid = "NitroCliOutputInvalid";
    public const string ImageNotFound = "EnclaveImageNotFound";
    public const string MemoryTooSmall = "EnclaveMemoryTooSmall";
    public const string CpuCountInvalid = "EnclaveCpuCountInvalid";
    public const string CidInvalid = "EnclaveCidInvalid";
    public const string SigningIncomplete = "EnclaveSigningIncomplete";
    public const string SimulatedEnclave = "EnclaveIsSimulated";
}
