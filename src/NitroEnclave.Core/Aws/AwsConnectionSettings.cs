namespace NitroEnclave.Aws;

/// <summary>
/// How to reach AWS, as plain values: the cmdlets resolve their AWS parameters into this (they cannot hold AWS SDK
/// types, which live in the module's private load context) and Core turns it into SDK clients.
/// </summary>
public sealed record AwsConnectionSettings
{
    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }

    public string? SessionToken { get; init; }

    public string? ProfileName { get; init; }

    public string? ProfileLocation { get; init; }

    public string? Region { get; init; }

    /// <summary>Where <see cref="Region"/> came from (-Region or $StoredAWSRegion), for messages.</summary>
    public string? RegionSource { get; init; }

    /// <summary>A service URL that replaces the regional endpoint (a local KMS, a VPC endpoint).</summary>
    public string? EndpointUrl { get; init; }

    /// <summary>Where the credentials come from, for messages (never the secret itself).</summary>
    public string CredentialSource { get; init; } = "the AWS SDK default chain";

    /// <summary>
    /// How long one AWS call may take, its retries included (-TimeoutSec): a KMS that never answers fails after this,
    /// not after the SDK's own minutes.
    /// </summary>
    public TimeSpan Timeout { get; init; } = AwsClientFactory.DefaultTimeout;

    public override string ToString() => $"{CredentialSource}, region {Region ?? "(SDK default)"}{(EndpointUrl is null ? string.Empty : $", endpoint {EndpointUrl}")}";
}

/// <summary>
/// The credential and region precedence of AWS Tools for PowerShell, as pure logic: explicit keys, then -ProfileName,
/// then -Credential, then the shell default set by Set-AWSCredential ($StoredAWSCredentials: credentials or a profile
/// name), then the default profile of a -ProfileLocation file, then the SDK's own chain (AWS_* variables, AWS_PROFILE, the
/// default profile, web identity, the container endpoint, the instance role through IMDSv2). The region: -Region, then
/// $StoredAWSRegion (Set-DefaultAWSRegion), then the profile's, AWS_REGION, the instance metadata
/// (<see cref="AwsClientFactory.ResolveRegion"/>). A profile given by name outranks -Credential, so the simulation's
/// session default (a -Credential in $PSDefaultParameterValues) never overrides a -ProfileName the user types.
/// </summary>
public static class AwsSettingsResolver
{
    public const string MissingSecretKey = "AwsCredentialIncomplete";
    public const string ProfileNotFound = "AwsProfileNotFound";
    public const string RegionMissing = "AwsRegionMissing";
    public const string InvalidEndpoint = "AwsEndpointInvalid";
    public const string InvalidRegion = "AwsRegionInvalid";
    public const string StoredCredentialsUnusable = "AwsStoredCredentialsUnusable";

    /// <summary>The profile a -ProfileLocation file is read for when no -ProfileName goes with it.</summary>
    public const string DefaultProfileName = "default";

    /// <param name="explicitKeys">-AccessKey/-SecretKey/-SessionToken.</param>
    /// <param name="credential">Keys taken from -Credential.</param>
    /// <param name="profileName">-ProfileName.</param>
    /// <param name="profileLocation">-ProfileLocation.</param>
    /// <param name="storedCredential">Keys from $StoredAWSCredentials when it holds credentials.</param>
    /// <param name="storedProfileName">$StoredAWSCredentials when it holds a profile name.</param>
    /// <param name="region">-Region.</param>
    /// <param name="storedRegion">$StoredAWSRegion.</param>
    /// <param name="endpointUrl">-EndpointUrl.</param>
    public static AwsConnectionSettings Resolve(
        AwsKeys? explicitKeys,
        AwsKeys? credential,
        string? profileName,
        string? profileLocation,
        AwsKeys? storedCredential,
        string? storedProfileName,
        string? region,
        string? storedRegion,
        string? endpointUrl)
    {
        if (explicitKeys is { } keys && (string.IsNullOrEmpty(keys.AccessKey) || string.IsNullOrEmpty(keys.SecretKey)))
        {
            throw new NitroEnclaveException(MissingSecretKey, ErrorKind.InvalidArgument, "-AccessKey and -SecretKey go together.");
        }

        if (endpointUrl is not null && (!Uri.TryCreate(endpointUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            throw new NitroEnclaveException(InvalidEndpoint, ErrorKind.InvalidArgument, $"The endpoint '{endpointUrl}' is not an http or https URL.");
        }

        var chosenRegion = Blank(region) ?? Blank(storedRegion);
        if (chosenRegion is not null && !IsRegionName(chosenRegion))
        {
            throw new NitroEnclaveException(InvalidRegion, ErrorKind.InvalidArgument,
                $"'{chosenRegion}' from {(Blank(region) is null ? "$StoredAWSRegion" : "-Region")} is not an AWS Region name such as eu-west-1.");
        }

        // -ProfileLocation alone is where the stored profile name is read, else that file's default profile is used.
        var fileDefault = Blank(profileLocation) is null ? null : DefaultProfileName;
        var (source, chosenKeys, profile) = (explicitKeys, Blank(profileName), credential, storedCredential, Blank(storedProfileName) ?? fileDefault) switch
        {
            ({ } k, _, _, _, _) => ("-AccessKey/-SecretKey", k, null),
            (_, { } p, _, _, _) => ($"profile '{p}'", null, p),
            (_, _, { } c, _, _) => ("-Credential", c, null),
            (_, _, _, { } s, _) => ("$StoredAWSCredentials", s, null),
            (_, _, _, _, { } sp) => (Blank(storedProfileName) is null ? $"profile '{sp}' of -ProfileLocation" : $"profile '{sp}' from $StoredAWSCredentials", null, sp),
            _ => ("the AWS SDK default chain", (AwsKeys?)null, (string?)null),
        };

        return new AwsConnectionSettings
        {
            AccessKey = chosenKeys?.AccessKey,
            SecretKey = chosenKeys?.SecretKey,
            SessionToken = Blank(chosenKeys?.SessionToken),
            ProfileName = profile,
            ProfileLocation = profile is null ? null : Blank(profileLocation),
            Region = chosenRegion,
            RegionSource = Blank(region) is not null ? "-Region" : chosenRegion is null ? null : "$StoredAWSRegion",
            EndpointUrl = Blank(endpointUrl),
            CredentialSource = source,
        };
    }

    /// <summary>Region names are lower-case letters, digits and hyphens (eu-west-1, us-gov-west-1, cn-north-1).</summary>
    public static bool IsRegionName(string region) =>
        region.Length is > 0 and <= 64 && region.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') && region[0] != '-' && region[^1] != '-';

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>An access key pair, optionally with a session token.</summary>
public sealed record AwsKeys(string AccessKey, string SecretKey, string? SessionToken = null)
{
    public override string ToString() => $"access key {AccessKey}";
}

/// <summary>
/// An access key pair held so that it does not print: views, Format-List * and string conversion show only the access
/// key id. The module's -Credential takes it; GetCredentials() hands out the keys, as AWS.Tools credentials objects do.
/// </summary>
public sealed class AwsKeyCredential
{
    private readonly AwsKeys _keys;

    public AwsKeyCredential(AwsKeys keys) => _keys = keys ?? throw new ArgumentNullException(nameof(keys));

    public string AccessKey => _keys.AccessKey;

    public AwsKeys GetCredentials() => _keys;

    public override string ToString() => _keys.ToString();
}
