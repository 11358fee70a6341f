using NitroEnclave.LocalKms.Identity;

namespace NitroEnclave.LocalKms.Keys;

/// <summary>Everything under a data path: the master key, the keys and aliases, and the principals.</summary>
internal sealed class LocalKmsData
{
    private LocalKmsData(KeyStore keys, PrincipalDirectory principals)
    {
        Keys = keys;
        Principals = principals;
    }

    public KeyStore Keys { get; }

    public PrincipalDirectory Principals { get; }

    public static LocalKmsData Open(string dataPath, string accountId)
    {
        AtomicFile.EnsureDirectory(dataPath);
        var masterKey = MasterKey.LoadOrCreate(dataPath);
        return new LocalKmsData(KeyStore.Open(dataPath, masterKey, accountId), new PrincipalDirectory(dataPath, masterKey));
    }

    /// <summary>For add-principal: only the principals (and the master key that protects them).</summary>
    public static PrincipalDirectory OpenPrincipals(string dataPath)
    {
        AtomicFile.EnsureDirectory(dataPath);
        return new PrincipalDirectory(dataPath, MasterKey.LoadOrCreate(dataPath));
    }
}
