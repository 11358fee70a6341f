using Amazon.Runtime.CredentialManagement;

namespace NitroEnclave.Aws;

/// <summary>
/// The profiles of the shared credentials and config files, read as the AWS SDK reads them: ~/.aws/credentials and
/// ~/.aws/config, or the files AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE name, or a -ProfileLocation file.
/// </summary>
public static class AwsSharedProfiles
{
    /// <summary>Every profile name, sorted; none when the files are missing or unreadable.</summary>
    public static IReadOnlyList<string> Names(string? profileLocation)
    {
        try
        {
            return new CredentialProfileStoreChain(profileLocation).ListProfiles()
                .Select(p => p.Name)
                .Distinct(StringComparer.Ordinal)
                .Order(StringComparer.OrdinalIgnoreCase)
                .ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Amazon.Runtime.AmazonClientException)
        {
            return [];
        }
    }

    /// <summary>The profile, or null when no file defines it.</summary>
    public static CredentialProfile? Find(string name, string? profileLocation) =>
        new CredentialProfileStoreChain(profileLocation).TryGetProfile(name, out var profile) ? profile : null;

    /// <summary>The file that defines the profile (the credentials file when both do), for messages.</summary>
    public static string DefinedIn(string name, string? profileLocation)
    {
        var files = profileLocation is null ? new SharedCredentialsFile() : new SharedCredentialsFile(profileLocation);
        if (HasSection(files.FilePath, name))
        {
            return files.FilePath;
        }

        // The config file names its sections "profile NAME", except the default profile.
        return HasSection(files.ConfigFilePath, $"profile {name}") || (name == "default" && HasSection(files.ConfigFilePath, name))
            ? files.ConfigFilePath
            : $"{files.FilePath} or {files.ConfigFilePath}";
    }

    /// <summary>
    /// True when the profile holds keys itself, so credentials come without a network call or a prompt (no role to
    /// assume, no SSO, no credential process, no web identity).
    /// </summary>
    public static bool HasStaticKeys(CredentialProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var o = profile.Options;
        return !string.IsNullOrEmpty(o.AccessKey) && !string.IsNullOrEmpty(o.SecretKey)
            && string.IsNullOrEmpty(o.RoleArn) && string.IsNullOrEmpty(o.CredentialProcess) && string.IsNullOrEmpty(o.WebIdentityTokenFile)
            && string.IsNullOrEmpty(o.SsoStartUrl) && string.IsNullOrEmpty(o.SsoSession) && string.IsNullOrEmpty(o.LoginSession);
    }

    private static bool HasSection(string path, string section)
    {
        try
        {
            return File.Exists(path) && File.ReadLines(path).Any(line => SectionName(line) == section);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The name in a "[ name ]" header line, spaces inside the brackets squeezed; null for other lines.</summary>
    private static string? SectionName(string line)
    {
        var text = line.Trim();
        return text.Length > 1 && text[0] == '[' && text[^1] == ']'
            ? string.Join(' ', text[1..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            : null;
    }
}
