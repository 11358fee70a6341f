using Amazon;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Endpoints;

namespace NitroEnclave.Aws;

/// <summary>
/// What AWS settings resolve to, in words for -Verbose: where the credentials come from (the access key id shortened,
/// never a secret), the region and where it came from, and the KMS endpoint.
/// </summary>
public static class AwsConnectionDescription
{
    /// <summary>Where the credentials come from; the SDK default chain is resolved to say which of its sources answered.</summary>
    public static string Credentials(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.AccessKey is { } accessKey)
        {
            return $"{settings.CredentialSource}, access key {ShortAccessKey(accessKey)}{(settings.SessionToken is null ? string.Empty : " with a session token")}";
        }

        if (settings.ProfileName is { } profile)
        {
            return $"{settings.CredentialSource}, defined in {AwsSharedProfiles.DefinedIn(profile, settings.ProfileLocation)}";
        }

        AWSCredentials found;
        try
        {
            found = DefaultAWSCredentialsIdentityResolver.GetCredentials();
        }
        catch (Exception ex) when (ex is AmazonClientException or AmazonServiceException)
        {
            return $"{settings.CredentialSource}, which found none";
        }

        var source = found switch
        {
            EnvironmentVariablesAWSCredentials => "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            AssumeRoleWithWebIdentityCredentials => "the web identity token of AWS_WEB_IDENTITY_TOKEN_FILE",
            // The chain's own instance-role type is internal to the SDK: known by name.
            _ when found.GetType().Name.Contains("InstanceProfile", StringComparison.Ordinal) => "the EC2 instance role (instance metadata)",
            GenericContainerCredentials => "the container credentials endpoint",
            _ => DefaultProfile() is var (name, how) ? $"profile '{name}' ({how}), defined in {AwsSharedProfiles.DefinedIn(name, null)}" : "a credentials provider",
        };
        return $"{settings.CredentialSource}: {source}, access key {ShortAccessKey(found.GetCredentials().AccessKey)}";
    }

    /// <summary>
    /// The region and KMS endpoint a KMS client made from these settings uses, and where the region came from. A
    /// client is built for it (no request is sent); when that fails, the reason, which the real call reports too.
    /// </summary>
    public static (string Region, string Endpoint) Kms(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        try
        {
            using var client = AwsClientFactory.CreateKmsClient(settings);
            var config = client.Config;
            var region = config.RegionEndpoint?.SystemName ?? config.AuthenticationRegion;
            var endpoint = config.ServiceURL ?? config.DetermineServiceOperationEndpoint(new ServiceOperationEndpointParameters(new ListAliasesRequest())).URL;
            return ($"{region} ({RegionSource(settings, region)})", $"{endpoint}{(settings.EndpointUrl is null ? " (the region's endpoint)" : " (-EndpointUrl)")}");
        }
        catch (NitroEnclaveException ex)
        {
            return ($"not resolved: {ex.Message.TrimEnd('.')}", "not resolved");
        }
    }

    /// <summary>Where a resolved region came from, checked in the order the SDK looks.</summary>
    public static string RegionSource(AwsConnectionSettings settings, string region)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Region == region)
        {
            return $"from {settings.RegionSource}";
        }

        if (settings.ProfileName is { } profile && AwsSharedProfiles.Find(profile, settings.ProfileLocation)?.Region?.SystemName == region)
        {
            return $"from profile '{profile}'";
        }

        if (settings.EndpointUrl is not null && settings.Region is null)
        {
            return "none given: requests to -EndpointUrl are signed for us-east-1";
        }

        foreach (var variable in new[] { "AWS_REGION", "AWS_DEFAULT_REGION" })
        {
            if (Environment.GetEnvironmentVariable(variable) == region)
            {
                return $"from {variable}";
            }
        }

        return DefaultProfile() is var (name, _) && AwsSharedProfiles.Find(name, null)?.Region?.SystemName == region
            ? $"from profile '{name}'"
            : "from the EC2 instance metadata";
    }

    /// <summary>The first four characters (the key type, AKIA or ASIA) and the last four: enough to tell keys apart.</summary>
    public static string ShortAccessKey(string accessKey)
    {
        ArgumentNullException.ThrowIfNull(accessKey);
        return accessKey.Length >= 12 ? $"{accessKey[..4]}...{accessKey[^4..]}" : "****";
    }

    /// <summary>The profile the SDK default chain reads: AWS_PROFILE, else "default", when a file defines it.</summary>
    private static (string Name, string How)? DefaultProfile()
    {
        var named = Environment.GetEnvironmentVariable("AWS_PROFILE");
        var name = string.IsNullOrWhiteSpace(named) ? "default" : named;
        return AwsSharedProfiles.Find(name, null) is null ? null : (name, string.IsNullOrWhiteSpace(named) ? "the default profile" : "AWS_PROFILE");
    }
}
