using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Identity;

/// <summary>
/// An authenticated caller: the principal an access key belongs to. Temporary credentials (a session of a role, issued
/// by AssumeRole or AssumeRoleWithWebIdentity) also carry the session token issued with them, when they expire, and
/// the role's ARN; long-term access keys (all of principals.json) have none.
/// </summary>
internal sealed record Principal(string AccessKeyId, string Arn, string AccountId, string SecretAccessKey, string? SessionToken = null)
{
    /// <summary>For a role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION): arn:aws:iam::ACCOUNT:role/PATH/ROLE.</summary>
    public string? RoleArn { get; init; }

    public DateTimeOffset? Expiration { get; init; }
}

/// <summary>A role sessions can be issued for: who may assume it (AssumeRole) and which web identities may (AssumeRoleWithWebIdentity).</summary>
internal sealed record Role(string Arn, string AccountId, IReadOnlyList<string> TrustedPrincipals, IReadOnlyList<string> WebIdentitySubjects, int MaxSessionDurationSeconds)
{
    public const int DefaultMaxSessionDurationSeconds = 3600;

    /// <summary>The last part of the ARN: role names are unique in an account whatever their path.</summary>
    public string Name => Arn[(Arn.LastIndexOf('/') + 1)..];
}

/// <summary>
/// Access keys and their principals, in principals.json (secrets wrapped under the master key). The file may be
/// changed by add-principal while the server runs: an unknown access key makes the server re-read it when it changed.
/// Writers serialize through a lock file, so two add-principal runs cannot lose each other's principal.
/// </summary>
internal sealed partial class PrincipalDirectory
{
    public const string FileName = "principals.json";
    public const string AdminCredentialsFileName = "admin.credentials";
    private const string LockFileName = "principals.lock";

    private readonly string _dataPath;
    private readonly MasterKey _masterKey;
    private readonly Lock _lock = new();
    private Dictionary<string, Principal> _byAccessKey = new(StringComparer.Ordinal);
    private Dictionary<string, Role> _roles = new(StringComparer.Ordinal);
    private DateTime _loadedWriteTime;

    public PrincipalDirectory(string dataPath, MasterKey masterKey)
    {
        _dataPath = dataPath;
        _masterKey = masterKey;
        Reload();
    }

    private string FilePath => Path.Combine(_dataPath, FileName);

    public static string AdminArn(string accountId) => $"arn:aws:iam::{accountId}:user/admin";

    /// <summary>The account a principal ARN belongs to, or null when the ARN is not an IAM or STS principal.</summary>
    public static string? AccountOf(string arn)
    {
        var match = PrincipalArnPattern().Match(arn);
        return match.Success ? match.Groups[1].Value : null;
    }

    public Principal? Find(string accessKeyId)
    {
        lock (_lock)
        {
            if (_byAccessKey.TryGetValue(accessKeyId, out var principal))
            {
                return principal;
            }

            if (File.Exists(FilePath) && File.GetLastWriteTimeUtc(FilePath) != _loadedWriteTime)
            {
                Reload();
                return _byAccessKey.GetValueOrDefault(accessKeyId);
            }

            return null;
        }
    }

    /// <summary>The role with this ARN, or null when there is none (re-reading principals.json when it changed).</summary>
    public Role? FindRole(string arn)
    {
        lock (_lock)
        {
            if (_roles.TryGetValue(arn, out var role))
            {
                return role;
            }

            if (File.Exists(FilePath) && File.GetLastWriteTimeUtc(FilePath) != _loadedWriteTime)
            {
                Reload();
                return _roles.GetValueOrDefault(arn);
            }

            return null;
        }
    }

    /// <summary>
    /// Defines (or redefines) a role. Without trusted principals or web identity subjects, the role's own account may
    /// assume it, as a trust policy naming arn:aws:iam::ACCOUNT:root allows.
    /// </summary>
    public Role AddRole(string arn, IReadOnlyList<string> trustedPrincipals, IReadOnlyList<string> webIdentitySubjects, int maxSessionDurationSeconds = Role.DefaultMaxSessionDurationSeconds)
    {
        var match = RoleArnPattern().Match(arn);
        if (!match.Success)
        {
            throw new ArgumentException($"'{arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>, the name at most 64 of A-Z a-z 0-9 + = , . @ _ -).", nameof(arn));
        }

        foreach (var trusted in trustedPrincipals)
        {
            Policy.PrincipalPattern? pattern;
            try
            {
                pattern = Policy.PrincipalPattern.Parse(trusted, "the role's trust");
            }
            catch (Protocol.KmsException ex)
            {
                throw new ArgumentException(ex.Message, nameof(trustedPrincipals), ex);
            }

            if (pattern is null)
            {
                throw new ArgumentException($"The trusted principal '{trusted}' is not \"*\", an account id, arn:aws:iam::<account>:root or a user or role ARN.", nameof(trustedPrincipals));
            }
        }

        if (maxSessionDurationSeconds is < 3600 or > 43200)
        {
            throw new ArgumentException("The maximum session duration is 3600 to 43200 seconds, as IAM allows.", nameof(maxSessionDurationSeconds));
        }

        List<string> trust = trustedPrincipals.Count == 0 && webIdentitySubjects.Count == 0 ? [$"arn:aws:iam::{match.Groups[1].Value}:root"] : [.. trustedPrincipals];
        lock (_lock)
        {
            using var fileLock = AcquireFileLock();
            var stored = ReadFile();
            stored.Roles.RemoveAll(r => r.Arn == arn);
            stored.Roles.Add(new StoredRole { Arn = arn, TrustedPrincipals = trust, WebIdentitySubjects = [.. webIdentitySubjects], MaxSessionDurationSeconds = maxSessionDurationSeconds });
            AtomicFile.Write(FilePath, JsonSerializer.SerializeToUtf8Bytes(stored, StoreJsonContext.Default.StoredPrincipals));
            Reload();
            return _roles[arn];
        }
    }

    /// <summary>The administrator: the first principal, created (with admin.credentials) on first start.</summary>
    public Principal EnsureAdmin(string accountId)
    {
        lock (_lock)
        {
            var adminArn = AdminArn(accountId);
            var existing = _byAccessKey.Values.FirstOrDefault(p => p.Arn == adminArn);
            if (existing is not null)
            {
                return existing;
            }

            var admin = Add(adminArn);
            var credentials = $"[default]\naws_access_key_id = {admin.AccessKeyId}\naws_secret_access_key = {admin.SecretAccessKey}\n";
            AtomicFile.Write(Path.Combine(_dataPath, AdminCredentialsFileName), Encoding.UTF8.GetBytes(credentials));
            return admin;
        }
    }

    /// <summary>
    /// The first access key of <paramref name="arn"/>, created when it has none: a simulation that names the same
    /// principals on every start reuses their keys instead of adding new ones each time.
    /// </summary>
    public Principal Ensure(string arn)
    {
        lock (_lock)
        {
            // Another process may have added it since this directory last read the file (written atomically).
            Reload();

            return _byAccessKey.Values.FirstOrDefault(p => p.Arn == arn) ?? Add(arn);
        }
    }

    /// <summary>Creates a new access key for <paramref name="arn"/> and saves it.</summary>
    public Principal Add(string arn)
    {
        var account = AccountOf(arn) ?? throw new ArgumentException($"'{arn}' is not an IAM user or role ARN (arn:aws:iam::<account>:user/<name> or :role/<name>).", nameof(arn));
        var principal = new Principal(NewAccessKeyId(), arn, account, NewSecretAccessKey());
        lock (_lock)
        {
            using var fileLock = AcquireFileLock();
            var stored = ReadFile();
            stored.Principals.Add(new StoredPrincipal
            {
                AccessKeyId = principal.AccessKeyId,
                Arn = arn,
                WrappedSecret = _masterKey.Wrap(Encoding.UTF8.GetBytes(principal.SecretAccessKey), SecretPurpose(principal.AccessKeyId)),
            });
            AtomicFile.Write(FilePath, JsonSerializer.SerializeToUtf8Bytes(stored, StoreJsonContext.Default.StoredPrincipals));
            Reload();
        }

        return principal;
    }

    private static string SecretPurpose(string accessKeyId) => "localkms:secret-access-key:" + accessKeyId;

    /// <summary>Access key ids look like AWS's: AKIA and 16 base-32 characters.</summary>
    private static string NewAccessKeyId() => "AKIA" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);

    private static string NewSecretAccessKey() =>
        RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);

    private FileStream AcquireFileLock()
    {
        var path = Path.Combine(_dataPath, LockFileName);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 100)
            {
                Thread.Sleep(50);
            }
        }
    }

    private StoredPrincipals ReadFile() =>
        File.Exists(FilePath)
            ? JsonSerializer.Deserialize(File.ReadAllBytes(FilePath), StoreJsonContext.Default.StoredPrincipals) ?? new StoredPrincipals()
            : new StoredPrincipals();

    private void Reload()
    {
        _loadedWriteTime = File.Exists(FilePath) ? File.GetLastWriteTimeUtc(FilePath) : default;
        var file = ReadFile();
        var loaded = new Dictionary<string, Principal>(StringComparer.Ordinal);
        foreach (var stored in file.Principals)
        {
            var secret = Encoding.UTF8.GetString(_masterKey.Unwrap(stored.WrappedSecret, SecretPurpose(stored.AccessKeyId)));
            loaded[stored.AccessKeyId] = new Principal(stored.AccessKeyId, stored.Arn, AccountOf(stored.Arn) ?? string.Empty, secret);
        }

        _byAccessKey = loaded;
        _roles = file.Roles.ToDictionary(
            r => r.Arn,
            r => new Role(r.Arn, AccountOf(r.Arn) ?? string.Empty, r.TrustedPrincipals, r.WebIdentitySubjects, r.MaxSessionDurationSeconds),
            StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^arn:aws:(?:iam|sts)::(\d{12}):(?:user|role|assumed-role)/.+$")]
    private static partial Regex PrincipalArnPattern();

    [GeneratedRegex(@"^arn:aws:iam::(\d{12}):role/(?:[\x21-\x7E]*/)?[\w+=,.@-]{1,64}$")]
    private static partial Regex RoleArnPattern();
}
