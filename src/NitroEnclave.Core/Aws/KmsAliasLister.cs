using Amazon.KeyManagementService.Model;
using Amazon.Runtime;

namespace NitroEnclave.Aws;

/// <summary>A KMS alias and the key it points to.</summary>
public sealed record KmsAliasEntry(string AliasName, string TargetKeyId);

/// <summary>
/// The account's KMS aliases for tab completion, only where asking is cheap: credentials known without a network call
/// or a prompt (keys given or in a file, not a role to assume, SSO or the instance role) and a region known without
/// asking the instance metadata. One page, a short deadline, and any failure means no aliases, never an error.
/// </summary>
public static class KmsAliasLister
{
    public static IReadOnlyList<KmsAliasEntry> TryList(AwsConnectionSettings settings, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!IsCheap(settings))
        {
            return [];
        }

        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            using var client = AwsClientFactory.CreateKmsClient(settings);
            var listing = client.ListAliasesAsync(new ListAliasesRequest { Limit = 100 }, deadline.Token);
            // The deadline also bounds what the SDK does before it honours the token.
            if (!listing.Wait(timeout))
            {
                return [];
            }

            return (listing.Result.Aliases ?? [])
                .Where(a => !string.IsNullOrEmpty(a.AliasName) && !string.IsNullOrEmpty(a.TargetKeyId))
                .Select(a => new KmsAliasEntry(a.AliasName, a.TargetKeyId))
                .ToList();
        }
        catch (Exception ex) when (ex is NitroEnclaveException or AmazonClientException or AmazonServiceException or AggregateException or OperationCanceledException)
        {
            return [];
        }
    }

    /// <summary>True when credentials and region resolve from the settings, environment variables or files alone.</summary>
    internal static bool IsCheap(AwsConnectionSettings settings)
    {
        var profileName = settings.ProfileName;
        var credentialsCheap = settings.AccessKey is not null;
        if (!credentialsCheap && profileName is null)
        {
            // The SDK default chain: environment variables first, then AWS_PROFILE or the default profile.
            credentialsCheap = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID"))
                && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY"));
            if (!credentialsCheap && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_WEB_IDENTITY_TOKEN_FILE")))
            {
                profileName = DefaultProfileName();
            }
        }

        var profile = profileName is null ? null : AwsSharedProfiles.Find(profileName, settings.ProfileLocation);
        credentialsCheap |= profile is not null && AwsSharedProfiles.HasStaticKeys(profile);
        var regionCheap = settings.Region is not null || settings.EndpointUrl is not null || profile?.Region is not null
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_REGION"))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION"))
            || AwsSharedProfiles.Find(DefaultProfileName(), null)?.Region is not null;
        return credentialsCheap && regionCheap;
    }

    private static string DefaultProfileName() =>
        Environment.GetEnvironmentVariable("AWS_PROFILE") is { Length: > 0 } named ? named : "default";
}
