using Amazon;
using Amazon.KeyManagementService;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.SecurityToken;

namespace NitroEnclave.Aws;

/// <summary>
/// How to reach AWS, as plain values: the cmdlets resolve their AWS parameters into this (they cannot hold AWS SDK
/// types, which live in the module's private load context) and Core turns it into SDK clients.
/// </summary>
public sealed class AwsConnectionSettings
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

    public override string ToString() => $"{CredentialSource}, region {Region ?? "(SDK default)"}{(EndpointUrl is null ? string.Empty : $", endpoint {EndpointUrl}")}";
}

/// <summary>
/// The credential and region precedence of AWS Tools for PowerShell (reference nitro.md section 8), as pure logic:
/// explicit keys, then -Credential, then -ProfileName, then the shell defaults set by Set-AWSCredential and
/// Set-DefaultAWSRegion, then the SDK's own chain (AWS_* variables, AWS_PROFILE, the default profile, the instance role
/// through IMDSv2).
/// </summary>
public static class AwsSettingsResolver
{
    public const string MissingSecretKey = "AwsCredentialIncomplete";
    public const string ProfileNotFound = "AwsProfileNotFound";
    public const string RegionMissing = "AwsRegionMissing";
    public const string InvalidEndpoint = "AwsEndpointInvalid";

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
        var (source, chosenKeys, profile) = (explicitKeys, credential, Blank(profileName), storedCredential, Blank(storedProfileName)) switch
        {
            ({ } k, _, _, _, _) => ("-AccessKey/-SecretKey", k, null),
            (_, { } c, _, _, _) => ("-Credential", c, null),
            (_, _, { } p, _, _) => ($"profile '{p}'", null, p),
            (_, _, _, { } s, _) => ("$StoredAWSCredentials", s, null),
            (_, _, _, _, { } sp) => ($"profile '{sp}' from $StoredAWSCredentials", null, sp),
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

/// <summary>Builds AWS SDK clients from <see cref="AwsConnectionSettings"/>.</summary>
public static class AwsClientFactory
{
    public static AmazonKeyManagementServiceClient CreateKmsClient(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var credentials = Credentials(settings, out var profileRegion);
        var config = new AmazonKeyManagementServiceConfig();
        ConfigureEndpoint(config, settings, profileRegion);
        return credentials is null ? new AmazonKeyManagementServiceClient(config) : new AmazonKeyManagementServiceClient(credentials, config);
    }

    /// <summary>
    /// An STS client with the same credentials, region and endpoint as <see cref="CreateKmsClient"/> would use: with
    /// an endpoint URL, STS is asked at that same URL (the local KMS answers STS on its port).
    /// </summary>
    public static AmazonSecurityTokenServiceClient CreateStsClient(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var credentials = Credentials(settings, out var profileRegion);
        var config = new AmazonSecurityTokenServiceConfig();
        ConfigureEndpoint(config, settings, profileRegion);
        return credentials is null ? new AmazonSecurityTokenServiceClient(config) : new AmazonSecurityTokenServiceClient(credentials, config);
    }

    /// <summary>The region and endpoint every client of the module uses, whichever service it calls.</summary>
    private static void ConfigureEndpoint(ClientConfig config, AwsConnectionSettings settings, string? profileRegion)
    {
        var region = settings.Region ?? profileRegion;
        if (settings.EndpointUrl is not null)
        {
            config.ServiceURL = settings.EndpointUrl;
            config.AuthenticationRegion = region ?? "us-east-1";
        }
        else if (region is not null)
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }
        else if (FallbackRegionFactory.GetRegionEndpoint() is { } fallback)
        {
            config.RegionEndpoint = fallback;
        }
        else
        {
            throw new NitroEnclaveException(AwsSettingsResolver.RegionMissing, ErrorKind.InvalidArgument,
                "No AWS region: pass -Region, run Set-DefaultAWSRegion, set AWS_REGION or configure one in the profile.");
        }
    }

    /// <summary>
    /// The concrete keys and region the settings stand for, resolved here on the parent (profile, shell defaults, the
    /// SDK chain with IMDSv2 on EC2) so they can be handed to the enclave for its own KMS call.
    /// </summary>
    public static NitroEnclave.Protocol.AwsCallerCredentials ResolveCallerCredentials(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var credentials = Credentials(settings, out var profileRegion) ?? Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials();
        var region = settings.Region ?? profileRegion ?? FallbackRegionFactory.GetRegionEndpoint()?.SystemName
            ?? throw new NitroEnclaveException(AwsSettingsResolver.RegionMissing, ErrorKind.InvalidArgument,
                "No AWS region: pass -Region, run Set-DefaultAWSRegion, set AWS_REGION or configure one in the profile.");
        var keys = credentials.GetCredentials();
        return new NitroEnclave.Protocol.AwsCallerCredentials
        {
            AccessKeyId = keys.AccessKey,
            SecretAccessKey = keys.SecretKey,
            SessionToken = string.IsNullOrEmpty(keys.Token) ? null : keys.Token,
            Region = region,
        };
    }

    private static AWSCredentials? Credentials(AwsConnectionSettings settings, out string? profileRegion)
    {
        profileRegion = null;
        if (settings.AccessKey is not null)
        {
            return settings.SessionToken is null
                ? new BasicAWSCredentials(settings.AccessKey, settings.SecretKey)
                : new SessionAWSCredentials(settings.AccessKey, settings.SecretKey, settings.SessionToken);
        }

        if (settings.ProfileName is null)
        {
            return null;
        }

        var chain = new CredentialProfileStoreChain(settings.ProfileLocation);
        if (!chain.TryGetProfile(settings.ProfileName, out var profile) || !chain.TryGetAWSCredentials(settings.ProfileName, out var credentials))
        {
            throw new NitroEnclaveException(AwsSettingsResolver.ProfileNotFound, ErrorKind.NotFound,
                $"The AWS profile '{settings.ProfileName}' was not found{(settings.ProfileLocation is null ? string.Empty : $" in '{settings.ProfileLocation}'")}.");
        }

        profileRegion = profile.Region?.SystemName;
        return credentials;
    }
}
