using System.Text.Json;
using NitroEnclave.LocalKms.Policy;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Keys;

/// <summary>One KMS key as the operations see it: an immutable snapshot (changes replace the whole record).</summary>
internal sealed record KmsKey(
    string KeyId,
    double CreationDate,
    string? Description,
    string KeyUsage,
    string KeySpec,
    string KeyState,
    double? DeletionDate,
    int? PendingWindowInDays,
    string PolicyText,
    KeyPolicy Policy,
    byte[] Material);

internal sealed record KmsAlias(string AliasName, string TargetKeyId, double CreationDate, double LastUpdatedDate);

/// <summary>
/// Keys and aliases, in memory and in keys.json under the data path. Every change rewrites the file atomically while
/// holding the lock, so concurrent requests see consistent snapshots and a restart sees the last completed change.
/// </summary>
internal sealed class KeyStore
{
    public const string FileName = "keys.json";

    private readonly Lock _lock = new();
    private readonly string _path;
    private readonly MasterKey _masterKey;
    private readonly Dictionary<string, KmsKey> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KmsAlias> _aliases = new(StringComparer.Ordinal);

    private KeyStore(string path, MasterKey masterKey, string accountId)
    {
        _path = path;
        _masterKey = masterKey;
        AccountId = accountId;
    }

    public string AccountId { get; }

    /// <summary>Loads keys.json, or starts empty for <paramref name="accountId"/> when there is none yet.</summary>
    public static KeyStore Open(string dataPath, MasterKey masterKey, string accountId)
    {
        var path = Path.Combine(dataPath, FileName);
        if (!File.Exists(path))
        {
            var fresh = new KeyStore(path, masterKey, accountId);
            lock (fresh._lock)
            {
                fresh.Save();
            }

            return fresh;
        }

        var state = JsonSerializer.Deserialize(File.ReadAllBytes(path), StoreJsonContext.Default.StoredState)
            ?? throw new InvalidDataException($"{path} is empty.");
        if (state.AccountId is not null && state.AccountId != accountId)
        {
            throw new InvalidDataException($"The data path belongs to account {state.AccountId}, not {accountId}.");
        }

        var store = new KeyStore(path, masterKey, accountId);
        foreach (var stored in state.Keys)
        {
            var material = masterKey.Unwrap(stored.WrappedMaterial, MaterialPurpose(stored.KeyId));
            var policy = KeyPolicy.Parse(stored.Policy, accountId);
            store._keys[stored.KeyId] = new KmsKey(stored.KeyId, stored.CreationDate, stored.Description, stored.KeyUsage, stored.KeySpec,
                stored.KeyState, stored.DeletionDate, stored.PendingWindowInDays, stored.Policy, policy, material);
        }

        foreach (var alias in state.Aliases)
        {
            store._aliases[alias.AliasName] = new KmsAlias(alias.AliasName, alias.TargetKeyId, alias.CreationDate, alias.LastUpdatedDate);
        }

        return store;
    }

    public KmsKey? FindKey(string keyId)
    {
        lock (_lock)
        {
            return _keys.GetValueOrDefault(keyId);
        }
    }

    public KmsAlias? FindAlias(string aliasName)
    {
        lock (_lock)
        {
            return _aliases.GetValueOrDefault(aliasName);
        }
    }

    /// <summary>All keys, oldest first (a stable order for paging).</summary>
    public IReadOnlyList<KmsKey> ListKeys()
    {
        lock (_lock)
        {
            return [.. _keys.Values.OrderBy(k => k.CreationDate).ThenBy(k => k.KeyId, StringComparer.Ordinal)];
        }
    }

    public IReadOnlyList<KmsAlias> ListAliases()
    {
        lock (_lock)
        {
            return [.. _aliases.Values.OrderBy(a => a.AliasName, StringComparer.Ordinal)];
        }
    }

    public void AddKey(KmsKey key)
    {
        lock (_lock)
        {
            _keys.Add(key.KeyId, key);
            Save();
        }
    }

    /// <summary>Applies <paramref name="change"/> to the current record atomically; it may throw to refuse the change.</summary>
    public KmsKey UpdateKey(string keyId, Func<KmsKey, KmsKey> change)
    {
        lock (_lock)
        {
            var current = _keys.GetValueOrDefault(keyId) ?? throw KmsFault.NotFound($"Key '{keyId}' does not exist");
            var updated = change(current);
            _keys[keyId] = updated;
            try
            {
                Save();
            }
            catch
            {
                _keys[keyId] = current;
                throw;
            }

            return updated;
        }
    }

    public void AddAlias(KmsAlias alias)
    {
        lock (_lock)
        {
            if (!_aliases.TryAdd(alias.AliasName, alias))
            {
                throw new KmsException(KmsErrorTypes.AlreadyExists, $"An alias with the name {alias.AliasName} already exists");
            }

            try
            {
                Save();
            }
            catch
            {
                _aliases.Remove(alias.AliasName);
                throw;
            }
        }
    }

    public bool RemoveAlias(string aliasName)
    {
        lock (_lock)
        {
            if (!_aliases.Remove(aliasName, out var removed))
            {
                return false;
            }

            try
            {
                Save();
            }
            catch
            {
                _aliases[aliasName] = removed;
                throw;
            }

            return true;
        }
    }

    private static string MaterialPurpose(string keyId) => "localkms:key-material:" + keyId;

    /// <summary>Writes the whole state; the caller holds the lock.</summary>
    private void Save()
    {
        var state = new StoredState
        {
            AccountId = AccountId,
            Keys = [.. _keys.Values.OrderBy(k => k.CreationDate).Select(k => new StoredKey
            {
                KeyId = k.KeyId,
                CreationDate = k.CreationDate,
                Description = k.Description,
                KeyUsage = k.KeyUsage,
                KeySpec = k.KeySpec,
                KeyState = k.KeyState,
                DeletionDate = k.DeletionDate,
                PendingWindowInDays = k.PendingWindowInDays,
                Policy = k.PolicyText,
                WrappedMaterial = _masterKey.Wrap(k.Material, MaterialPurpose(k.KeyId)),
            })],
            Aliases = [.. _aliases.Values.Select(a => new StoredAlias
            {
                AliasName = a.AliasName,
                TargetKeyId = a.TargetKeyId,
                CreationDate = a.CreationDate,
                LastUpdatedDate = a.LastUpdatedDate,
            })],
        };
        AtomicFile.Write(_path, JsonSerializer.SerializeToUtf8Bytes(state, StoreJsonContext.Default.StoredState));
    }
}
