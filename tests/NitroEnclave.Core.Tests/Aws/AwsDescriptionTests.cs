using Amazon.KeyManagementService.Model;
using NitroEnclave.Aws;

namespace NitroEnclave.Tests.Aws;

/// <summary>What completion and -Verbose/-Debug say about AWS: profiles of a credentials file, sources, request lines.</summary>
public sealed class AwsDescriptionTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("nitroenclave-aws-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Profile_names_come_from_the_profile_location_file_sorted_and_a_missing_file_gives_none_of_them()
    {
        var credentials = Write("credentials", "[default]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = s\n[ dev team ]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAB\naws_secret_access_key = t\n");

        var names = AwsSharedProfiles.Names(credentials);

        Assert.Contains("default", names);
        Assert.Contains("dev team", names);
        Assert.Equal(names.Order(StringComparer.OrdinalIgnoreCase), names);
        Assert.DoesNotContain("dev team", AwsSharedProfiles.Names(Path.Combine(_directory.FullName, "missing", "credentials")));
    }

    [Fact]
    public void Only_a_profile_holding_keys_itself_counts_as_static()
    {
        var credentials = Write("credentials",
            "[keys]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = s\n[role]\nrole_arn = arn:aws:iam::111122223333:role/R\nsource_profile = keys\n[process]\ncredential_process = /bin/false\n");

        Assert.True(AwsSharedProfiles.HasStaticKeys(AwsSharedProfiles.Find("keys", credentials)!));
        Assert.False(AwsSharedProfiles.HasStaticKeys(AwsSharedProfiles.Find("role", credentials)!));
        Assert.False(AwsSharedProfiles.HasStaticKeys(AwsSharedProfiles.Find("process", credentials)!));
        Assert.Null(AwsSharedProfiles.Find("missing", credentials));
    }

    [Fact]
    public void Credentials_are_described_by_source_with_the_access_key_shortened_and_never_the_secret()
    {
        var keys = AwsSettingsResolver.Resolve(new AwsKeys("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "token"), null, null, null, null, null, "eu-west-1", null, null);
        var text = AwsConnectionDescription.Credentials(keys);
        Assert.Equal("-AccessKey/-SecretKey, access key AKIA...MPLE with a session token", text);
        Assert.DoesNotContain("wJalr", text, StringComparison.Ordinal);

        var credentials = Write("credentials", "[dev]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = secret-of-dev\n");
        var profile = AwsSettingsResolver.Resolve(null, null, "dev", credentials, null, null, null, null, null);
        Assert.Equal($"profile 'dev', defined in {credentials}", AwsConnectionDescription.Credentials(profile));
        Assert.Equal("****", AwsConnectionDescription.ShortAccessKey("AKIA1"));
    }

    [Fact]
    public void The_region_and_endpoint_say_where_they_came_from()
    {
        var given = AwsSettingsResolver.Resolve(new AwsKeys("AKIAIOSFODNN7EXAMPLE", "s"), null, null, null, null, null, "eu-west-1", null, null);
        Assert.Equal(("eu-west-1 (from -Region)", "https://kms.eu-west-1.amazonaws.com/ (the region's endpoint)"), AwsConnectionDescription.Kms(given));

        var stored = AwsSettingsResolver.Resolve(new AwsKeys("AKIAIOSFODNN7EXAMPLE", "s"), null, null, null, null, null, null, "cn-north-1", "http://127.0.0.1:4566");
        Assert.Equal(("cn-north-1 (from $StoredAWSRegion)", "http://127.0.0.1:4566/ (-EndpointUrl)"), AwsConnectionDescription.Kms(stored));

        var credentials = Write("credentials", "[dev]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = s\nregion = ap-south-1\n");
        var profile = AwsSettingsResolver.Resolve(null, null, "dev", credentials, null, null, null, null, null);
        Assert.Equal("ap-south-1 (from profile 'dev')", AwsConnectionDescription.Kms(profile).Region);

        var missing = AwsSettingsResolver.Resolve(null, null, "nobody", credentials, null, null, "eu-west-1", null, null);
        Assert.StartsWith("not resolved: The AWS profile 'nobody' was not found", AwsConnectionDescription.Kms(missing).Region, StringComparison.Ordinal);
    }

    [Fact]
    public void Request_lines_name_the_operation_key_and_endpoint_only()
    {
        var endpoint = new Uri("https://kms.eu-west-1.amazonaws.com/");
        var generate = new GenerateDataKeyRequest { KeyId = "alias/app", EncryptionContext = new() { ["tenant"] = "private-value" } };
        Assert.Equal("KMS GenerateDataKey key alias/app at https://kms.eu-west-1.amazonaws.com/", AwsRequestTrace.Describe("Key Management Service", generate, endpoint));
        Assert.Equal("KMS ListAliases at https://kms.eu-west-1.amazonaws.com/", AwsRequestTrace.Describe("Key Management Service", new ListAliasesRequest(), endpoint));
        Assert.Equal("KMS PutKeyPolicy key k1 at the default endpoint", AwsRequestTrace.Describe("Key Management Service", new PutKeyPolicyRequest { KeyId = "k1", Policy = "{}" }, null));
    }

    [Fact]
    public void Aliases_are_listed_only_when_credentials_and_region_resolve_without_asking_anyone()
    {
        var credentials = Write("credentials",
            "[keys]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = s\nregion = eu-west-1\n[role]\nrole_arn = arn:aws:iam::111122223333:role/R\nsource_profile = keys\nregion = eu-west-1\n");

        Assert.True(KmsAliasLister.IsCheap(AwsSettingsResolver.Resolve(new AwsKeys("AKIA", "s"), null, null, null, null, null, "eu-west-1", null, null)));
        Assert.True(KmsAliasLister.IsCheap(AwsSettingsResolver.Resolve(null, null, "keys", credentials, null, null, null, null, null)));
        Assert.False(KmsAliasLister.IsCheap(AwsSettingsResolver.Resolve(null, null, "role", credentials, null, null, null, null, null)));
        Assert.False(KmsAliasLister.IsCheap(AwsSettingsResolver.Resolve(null, null, "missing", credentials, null, null, "eu-west-1", null, null)));
        // A KMS that refuses the connection gives no aliases, not an error.
        var refused = AwsSettingsResolver.Resolve(new AwsKeys("AKIA", "s"), null, null, null, null, null, "eu-west-1", null, "http://127.0.0.1:9");
        Assert.Empty(KmsAliasLister.TryList(refused, TimeSpan.FromSeconds(5)));
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }
}
