using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime.Endpoints;

namespace NitroEnclave.Aws;

/// <summary>
/// What AWS settings resolve to, in words for -Verbose: where the credentials come from (the access key id shortened,
/// never a secret), the region and where it came from, and the KMS endpoint.
/// </summary>
public static class AwsConnectionDescription
{
    /// <summary>The environment variables the SDK reads for a KMS endpoint, the service's own first.</summary>
    private static readonly string[] EndpointVariables = ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"];

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

        try
        {
            var found = AwsClientFactory.ResolveCredentials(settings);
            return $"{found.Source}, access key {ShortAccessKey(found.Keys.AccessKey)}";
        }
        catch (NitroEnclaveException ex)
        {
            return $"{settings.CredentialSource}, which found none ({ex.Message.TrimEnd('.')})";
        }
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
            var config = AwsClientFactory.CreateKmsConfig(settings);
            var region = AwsClientFactory.ResolveRegion(settings);
            var endpoint = !string.IsNullOrEmpty(config.ServiceURL) ? config.ServiceURL : config.DetermineServiceOperationEndpoint(new ServiceOperationEndpointParameters(new ListAliasesRequest())).URL;
            return ($"{region.Name} (from {region.Source})", $"{endpoint} ({EndpointSource(settings, config)})");
        }
        catch (NitroEnclaveException ex)
        {
            return ($"not resolved: {ex.Message.TrimEnd('.')}", "not resolved");
        }
    }

    /// <summary>Where a resolved region came from, for a cmdlet that hands the region on (Invoke-EnclaveDetection).</summary>
    public static string RegionSource(AwsConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return $"from {AwsClientFactory.ResolveRegion(settings).Source}";
    }

    /// <summary>Which setting chose the endpoint, in the order the SDK reads them.</summary>
    private static string EndpointSource(AwsConnectionSettings settings, AmazonKeyManagementServiceConfig config)
    {
        if (settings.EndpointUrl is not null)
        {
            return "-EndpointUrl";
        }

        if (string.IsNullOrEmpty(config.ServiceURL))
        {
            return "the region's endpoint";
        }

        return EndpointVariables.FirstOrDefault(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)))
            ?? $"endpoint_url of profile '{settings.ProfileName ?? (Environment.GetEnvironmentVariable("AWS_PROFILE") is { Length: > 0 } named ? named : AwsSettingsResolver.DefaultProfileName)}'";
    }

    /// <summary>The first four characters (the key type, AKIA or ASIA) and the last four: enough to tell keys apart.</summary>
    public static string ShortAccessKey(string accessKey)
    {
        ArgumentNullException.ThrowIfNull(accessKey);
        return accessKey.Length >= 12 ? $"{accessKey[..4]}...{accessKey[^4..]}" : "****";
    }
}
