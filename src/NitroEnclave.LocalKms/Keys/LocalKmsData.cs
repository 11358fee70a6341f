using NitroEnclave.LocalKms.Identity;

namespace NitroEnclave.LocalKms.Keys;

/// <summary>Everything under a data path: the master key, the keys and aliases, and the principals.</summary>
internal sealed class LocalKmsData
{
    private LocalKmsData(MasterKey masterKey, KeyStore keys, PrincipalDirectory principals)
    {
        MasterKey = masterKey;
        Keys = keys;
        Principals = principals;
    }

    /// <summary>Also seals session tokens and signs web identity tokens.</summary>
    public MasterKey MasterKey { get; }

    public KeyStore Keys { get; }

    public PrincipalDirectory Principals { get; }

    public static LocalKmsData Open(string dataPath, string accountId)
    {
        AtomicFile.EnsureDirectory(dataPath);
        var masterKey = MasterKey.LoadOrCreate(dataPath);
        return new LocalKmsData(masterKey, KeyStore.Open(dataPath, masterKey, accountId), new PrincipalDirectory(dataPath, masterKey));
    }

    /// <summary>For issue-web-identity-token: the provider that signs with this data path's master key.</summary>
    public static WebIdentityTokens OpenWebIdentityProvider(string dataPath)
    {
        AtomicFile.EnsureDirectory(dataPath);
        return new WebIdentityTokens(MasterKey.LoadOrCreate(dataPath), TimeProvider.System);
    }

    /// <summary>For add-principal and add-role: only the principals (and the master key that protects them).</summary>
    public static PrincipalDirectory OpenPrincipals(string dataPath)
    {
        AtomicFile.EnsureDirectory(dataPath);
        return new PrincipalDirectory(dataPath, MasterKey.LoadOrCreate(dataPath));
    }
}
