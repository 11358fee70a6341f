using Amazon;
using Amazon.KeyManagementService;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using Amazon.SecurityToken;
using Amazon.Util;
using NitroEnclave.Envelope;
using NitroEnclave.Kms;

namespace NitroEnclave.Aws;

/// <summary>A region and where it came from, for messages ("-Region", "profile 'ops'", "AWS_REGION", ...).</summary>
public sealed record AwsResolvedRegion(string Name, string Source);

/// <summary>
/// Credentials resolved from settings: the SDK object that signs, the keys it gave (resolved once up front, so a role to
/// assume, an SSO token or an instance role that fails is reported before any KMS call) and where they came from.
/// </summary>
public sealed class AwsResolvedCredentials
{
    internal AwsResolvedCredentials(AWSCredentials credentials, ImmutableCredentials keys, string source)
    {
        Credentials = credentials;
        Keys = keys;
        Source = source;
    }

    public AWSCredentials Credentials { get; }

    public ImmutableCredentials Keys { get; }

    /// <summary>For example "profile 'ops'" or "the AWS SDK default chain: the container credentials endpoint".</summary>
    public string Source { get; }

    /// <summary>What an authentication failure's message says about these credentials.</summary>
    public AwsCredentialsUsed Used => new(Source, Keys.AccessKey, Keys.UseToken);
}

/// <summary>Builds AWS SDK clients from <see cref="AwsConnectionSettings"/>: one resolver for every cmdlet and the completers.</summary>
public static class AwsClientFactory
{
    public const string CredentialsUnavailable = "AwsCredentialsUnavailable";
    public const string SsoSignInRequired = "AwsSsoSignInRequired";

    /// <summary>Without -TimeoutSec an AWS call fails after this (its retries included).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Retries after a failed attempt (throttling, 5xx, a reset connection), all within the timeout.</summary>
    public const int MaxErrorRetry = 2;

    public static AmazonKeyManagementServiceClient CreateKmsClient(AwsConnectionSettings settings) => CreateKmsClient(settings, out _);

    /// <param name="settings">How to reach KMS.</param>
    /// <param name="credentials">The credentials the client signs with, resolved now.</param>
    public static AmazonKeyManagementServiceClient CreateKmsClient(AwsConnectionSettings settings, out AwsResolvedCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var config = CreateKmsConfig(settings);
        credentials = ResolveCredentials(settings);
        return new AmazonKeyManagementServiceClient(credentials.Credentials, config);
    }

    /// <summary>
    /// An STS client with the same credentials, region, endpoint and timeouts as <see cref="CreateKmsClient"/>: with
    /// an endpoint URL, STS is asked at that same URL (the local KMS answers STS on its port).
    /// </summary>
    public static AmazonSecurityTokenServiceClient CreateStsClient(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        AwsUserAgent.Apply();
        var config = Configure(new AmazonSecurityTokenServiceConfig(), settings);
        return new AmazonSecurityTokenServiceClient(ResolveCredentials(settings).Credentials, config);
    }

    /// <summary>
    /// The KMS client configuration the settings stand for, without resolving credentials: region (the same chain with
    /// or without -EndpointUrl), endpoint (-EndpointUrl, else what the SDK reads itself: AWS_ENDPOINT_URL_KMS,
    /// AWS_ENDPOINT_URL or the profile's endpoint_url, else the region's), timeouts, retries and the user agent.
    /// </summary>
    public static AmazonKeyManagementServiceConfig CreateKmsConfig(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        AwsUserAgent.Apply();
        return Configure(new AmazonKeyManagementServiceConfig(), settings);
    }

    /// <summary>
    /// The region, endpoint, timeouts and retries every client of the module uses, whichever service it calls. The
    /// config must be made after <see cref="AwsUserAgent.Apply"/>: it takes the user agent when it is constructed.
    /// </summary>
    private static T Configure<T>(T config, AwsConnectionSettings settings)
        where T : ClientConfig
    {
        var profile = FindProfile(settings);
        var region = ResolveRegion(settings, profile);
        config.Timeout = settings.Timeout;
        config.ConnectTimeout = settings.Timeout;
        config.MaxErrorRetry = MaxErrorRetry;
        if (settings.ProfileName is not null)
        {
            // The SDK reads a profile's endpoint_url (and services section) from the profile the config names.
            config.Profile = new Profile(settings.ProfileName, settings.ProfileLocation);
        }

        if (settings.EndpointUrl is not null)
        {
            config.ServiceURL = settings.EndpointUrl;
            config.AuthenticationRegion = region.Name;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region.Name);
            // The SDK takes an AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL set to nothing for an endpoint, and fails on it.
            if (config.ServiceURL is { Length: 0 })
            {
                throw new NitroEnclaveException(AwsSettingsResolver.InvalidEndpoint, ErrorKind.InvalidArgument,
                    "AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL is set but empty: remove it, or set it to the endpoint URL.");
            }

            // An endpoint the SDK configured itself (an environment variable, a profile's endpoint_url) is signed for
            // us-east-1 unless told otherwise: the region chain decides, as with -EndpointUrl.
            if (!string.IsNullOrEmpty(config.ServiceURL))
            {
                config.AuthenticationRegion = region.Name;
            }
        }

        return config;
    }

    /// <summary>
    /// The region: -Region or $StoredAWSRegion, then the region of the profile the credentials come from, AWS_REGION
    /// (or AWS_DEFAULT_REGION), the default profile's (AWS_PROFILE or default), the EC2 instance metadata.
    /// </summary>
    public static AwsResolvedRegion ResolveRegion(AwsConnectionSettings settings) => ResolveRegion(settings, FindProfile(settings));

    private static AwsResolvedRegion ResolveRegion(AwsConnectionSettings settings, CredentialProfile? profile)
    {
        if (settings.Region is { } given)
        {
            return new AwsResolvedRegion(given, settings.RegionSource ?? "-Region");
        }

        if (profile?.Region?.SystemName is { Length: > 0 } profileRegion)
        {
            return new AwsResolvedRegion(profileRegion, $"profile '{profile.Name}'");
        }

        foreach (var variable in new[] { "AWS_REGION", "AWS_DEFAULT_REGION" })
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } fromEnvironment)
            {
                return AwsSettingsResolver.IsRegionName(fromEnvironment)
                    ? new AwsResolvedRegion(fromEnvironment, variable)
                    : throw new NitroEnclaveException(AwsSettingsResolver.InvalidRegion, ErrorKind.InvalidArgument, $"{variable} '{fromEnvironment}' is not an AWS Region name such as eu-west-1.");
            }
        }

        var defaultName = DefaultProfileName();
        if (defaultName != settings.ProfileName && AwsSharedProfiles.Find(defaultName, null)?.Region?.SystemName is { Length: > 0 } defaultRegion)
        {
            return new AwsResolvedRegion(defaultRegion, $"profile '{defaultName}'");
        }

        if (InstanceMetadataRegion() is { } instanceRegion)
        {
            return new AwsResolvedRegion(instanceRegion, "the EC2 instance metadata");
        }

        throw new NitroEnclaveException(AwsSettingsResolver.RegionMissing, ErrorKind.InvalidArgument,
            "No AWS region: pass -Region, run Set-DefaultAWSRegion, set AWS_REGION or configure one in the profile.");
    }

    /// <summary>
    /// The credentials the settings stand for, resolved now: a profile through the SDK (keys, a role to assume, web
    /// identity, SSO, a credential process), else the SDK default chain. A source that cannot give credentials is an
    /// error naming it, never a silent fall-through to the next source.
    /// </summary>
    public static AwsResolvedCredentials ResolveCredentials(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.AccessKey is not null)
        {
            AWSCredentials keys = settings.SessionToken is null
                ? new BasicAWSCredentials(settings.AccessKey, settings.SecretKey)
                : new SessionAWSCredentials(settings.AccessKey, settings.SecretKey, settings.SessionToken);
            return new AwsResolvedCredentials(keys, keys.GetCredentials(), settings.CredentialSource);
        }

        if (FindProfile(settings) is { } profile)
        {
            var chain = new CredentialProfileStoreChain(settings.ProfileLocation);
            AWSCredentials? fromProfile;
            try
            {
                chain.TryGetAWSCredentials(profile.Name, out fromProfile);
            }
            catch (Exception ex) when (ex is AmazonClientException or InvalidOperationException or ArgumentException or IOException)
            {
                // For example a credential_source whose source has no credentials.
                throw new NitroEnclaveException(CredentialsUnavailable, ErrorKind.SecurityError, $"AWS credentials from {settings.CredentialSource} could not be obtained: {Reason(ex)}", ex);
            }

            if (fromProfile is null)
            {
                throw new NitroEnclaveException(CredentialsUnavailable, ErrorKind.InvalidData,
                    $"The AWS profile '{profile.Name}' ({AwsSharedProfiles.DefinedIn(profile.Name, settings.ProfileLocation)}) holds no usable credentials: it needs keys, a role_arn with source_profile or credential_source, web identity, SSO or a credential_process.");
            }

            return new AwsResolvedCredentials(fromProfile, Fetch(fromProfile, settings.CredentialSource, profile), settings.CredentialSource);
        }

        AWSCredentials found;
        try
        {
            found = DefaultAWSCredentialsIdentityResolver.GetCredentials();
        }
        catch (Exception ex) when (ex is AmazonClientException or AmazonServiceException)
        {
            throw new NitroEnclaveException(CredentialsUnavailable, ErrorKind.NotFound,
                "No AWS credentials: pass -ProfileName, -Credential or -AccessKey/-SecretKey, run Set-AWSCredential, or set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.", ex);
        }

        var source = $"{settings.CredentialSource}: {ChainSource(found)}";
        return new AwsResolvedCredentials(found, Fetch(found, source, null), source);
    }

    /// <summary>
    /// The concrete keys and region the settings stand for, resolved here on the parent (profile, shell defaults, the
    /// SDK chain with IMDSv2 on EC2) so they can be handed to the enclave for its own KMS call.
    /// </summary>
    public static NitroEnclave.Protocol.AwsCallerCredentials ResolveCallerCredentials(AwsConnectionSettings settings, IReadOnlyList<string>? grantTokens = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var region = ResolveRegion(settings);
        var keys = ResolveCredentials(settings).Keys;
        return new NitroEnclave.Protocol.AwsCallerCredentials
        {
            AccessKeyId = keys.AccessKey,
            SecretAccessKey = keys.SecretKey,
            SessionToken = string.IsNullOrEmpty(keys.Token) ? null : keys.Token,
            Region = region.Name,
            GrantTokens = grantTokens ?? [],
        };
    }

    /// <summary>Which source of the SDK default chain answered.</summary>
    internal static string ChainSource(AWSCredentials found) => found switch
    {
        EnvironmentVariablesAWSCredentials => "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        AssumeRoleWithWebIdentityCredentials => "the web identity token of AWS_WEB_IDENTITY_TOKEN_FILE",
        // The chain's own instance-role type is internal to the SDK: known by name.
        _ when found.GetType().Name.Contains("InstanceProfile", StringComparison.Ordinal) => "the EC2 instance role (instance metadata)",
        GenericContainerCredentials => "the container credentials endpoint",
        _ when AwsSharedProfiles.Find(DefaultProfileName(), null) is not null => $"profile '{DefaultProfileName()}' ({(Environment.GetEnvironmentVariable("AWS_PROFILE") is { Length: > 0 } ? "AWS_PROFILE" : "the default profile")}), defined in {AwsSharedProfiles.DefinedIn(DefaultProfileName(), null)}",
        _ => "a credentials provider",
    };

    /// <summary>The profile the settings name; null when they name none; a missing one is an error.</summary>
    private static CredentialProfile? FindProfile(AwsConnectionSettings settings)
    {
        if (settings.AccessKey is not null || settings.ProfileName is null)
        {
            return null;
        }

        return AwsSharedProfiles.Find(settings.ProfileName, settings.ProfileLocation)
            ?? throw new NitroEnclaveException(AwsSettingsResolver.ProfileNotFound, ErrorKind.NotFound,
                $"The AWS profile '{settings.ProfileName}' was not found{(settings.ProfileLocation is null ? string.Empty : $" in '{settings.ProfileLocation}'")}.");
    }

    /// <summary>Asks the credentials for their keys once (a role assumed, an SSO token read, an endpoint asked).</summary>
    private static ImmutableCredentials Fetch(AWSCredentials credentials, string source, CredentialProfile? profile)
    {
        try
        {
            return credentials.GetCredentials();
        }
        catch (Exception ex) when (ex is AmazonClientException or AmazonServiceException or InvalidOperationException or IOException or HttpRequestException or TaskCanceledException)
        {
            if (profile is not null && (!string.IsNullOrEmpty(profile.Options.SsoSession) || !string.IsNullOrEmpty(profile.Options.SsoStartUrl)))
            {
                throw new NitroEnclaveException(SsoSignInRequired, ErrorKind.SecurityError,
                    $"The SSO profile '{profile.Name}' has no valid sign-in: sign in with 'aws sso login --profile {profile.Name}' (or Invoke-AWSSSOLogin), then try again. {Reason(ex)}", ex);
            }

            throw new NitroEnclaveException(CredentialsUnavailable, ErrorKind.SecurityError, $"AWS credentials from {source} could not be obtained: {Reason(ex)}", ex);
        }
    }

    /// <summary>The SDK's reason and, when it wraps one, the service's answer: they name files, roles and endpoints, never secrets.</summary>
    private static string Reason(Exception ex)
    {
        var reason = ex.Message.TrimEnd('.');
        if (ex.InnerException is { Message: { Length: > 0 } inner } && !inner.StartsWith("Exception of type", StringComparison.Ordinal) && inner != ex.Message)
        {
            reason += $" ({inner.TrimEnd('.')})";
        }

        return reason + ".";
    }

    private static string DefaultProfileName() =>
        Environment.GetEnvironmentVariable("AWS_PROFILE") is { Length: > 0 } named ? named : AwsSettingsResolver.DefaultProfileName;

    /// <summary>The region of the EC2 instance (IMDSv2); null off EC2, when AWS_EC2_METADATA_DISABLED is set, or on any failure.</summary>
    private static string? InstanceMetadataRegion()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("AWS_EC2_METADATA_DISABLED"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            return EC2InstanceMetadata.Region?.SystemName;
        }
        catch (Exception ex) when (ex is AmazonClientException or HttpRequestException or IOException or InvalidOperationException or TaskCanceledException)
        {
            return null;
        }
    }
}
