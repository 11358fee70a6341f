using System.Collections;
using System.Management.Automation;
using System.Reflection;
using NitroEnclave.Aws;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// The AWS parameters of AWS Tools for PowerShell, shared by every cmdlet that calls AWS, with its aliases and its
/// pipeline binding by property name. They resolve into a Core <see cref="AwsConnectionSettings"/>: this assembly never
/// touches AWS SDK types (they live in the module's private load context), so credentials objects are duck-typed:
/// anything with GetCredentials() (an AWS.Tools AWSCredentials), with AccessKey/SecretKey properties, a hashtable with
/// those keys, or the AWS.Tools wrapper Set-AWSCredential leaves in $StoredAWSCredentials.
/// </summary>
public abstract class AwsCmdlet : NitroEnclaveCmdlet
{
    private const string StoredCredentialsVariable = "StoredAWSCredentials";
    private const string StoredRegionVariable = "StoredAWSRegion";

    private AwsParameterValues? _resolvedValues;
    private AwsConnectionSettings? _resolvedSettings;

    /// <summary>A region name, or a region object (an SDK RegionEndpoint, an AWS.Tools AWSRegion from Get-AWSRegion).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("RegionToCall")]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(AwsRegionCompleter))]
    public object? Region { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("StoredCredentials", "AWSProfileName")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(AwsProfileNameCompleter))]
    public string? ProfileName { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("AWSProfilesLocation", "ProfilesLocation")]
    [ValidateNotNullOrEmpty]
    public string? ProfileLocation { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("AK")]
    [ValidateNotNullOrEmpty]
    public string? AccessKey { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("SK", "SecretAccessKey")]
    [ValidateNotNullOrEmpty]
    public string? SecretKey { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ST")]
    [ValidateNotNullOrEmpty]
    public string? SessionToken { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public PSObject? Credential { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? EndpointUrl { get; set; }

    /// <summary>Seconds one AWS call may take, retries included; cmdlets with -TimeoutSec for AWS override this.</summary>
    protected virtual int AwsTimeoutSeconds => (int)AwsClientFactory.DefaultTimeout.TotalSeconds;

    /// <summary>
    /// Resolves the AWS parameters and shell defaults (again only when a pipeline record bound other values); a bad
    /// combination stops the cmdlet. -Verbose says where the credentials come from and, for a cmdlet that calls KMS
    /// itself (<paramref name="callsKms"/>), the region and endpoint.
    /// </summary>
    protected AwsConnectionSettings ResolveAwsSettings(bool callsKms = true)
    {
        var values = new AwsParameterValues(Region, ProfileName, ProfileLocation, AccessKey, SecretKey, SessionToken, Credential, EndpointUrl);
        if (_resolvedSettings is not null && values == _resolvedValues)
        {
            return _resolvedSettings;
        }

        AwsConnectionSettings settings;
        try
        {
            settings = Resolve(values, SessionState.PSVariable.GetValue) with { Timeout = TimeSpan.FromSeconds(AwsTimeoutSeconds) };
        }
        catch (NitroEnclaveException exception)
        {
            ThrowTerminatingError(ToErrorRecord(exception, null));
            throw;
        }

        if (VerboseRequested)
        {
            WriteVerbose($"AWS credentials: {AwsConnectionDescription.Credentials(settings)}.");
            if (callsKms)
            {
                var (region, endpoint) = AwsConnectionDescription.Kms(settings);
                WriteVerbose($"AWS region: {region}.");
                WriteVerbose($"KMS endpoint: {endpoint}.");
            }
        }

        (_resolvedValues, _resolvedSettings) = (values, settings);
        return settings;
    }

    /// <summary>
    /// The precedence of the AWS parameters, session variables (read through <paramref name="variable"/>) and the SDK
    /// chain; the one resolver of the cmdlets and the argument completers.
    /// </summary>
    internal static AwsConnectionSettings Resolve(AwsParameterValues values, Func<string, object?> variable)
    {
        // -SessionToken alone is a mistake worth reporting, not a parameter to drop silently.
        var explicitKeys = values.AccessKey is null && values.SecretKey is null && values.SessionToken is null
            ? null
            : new AwsKeys(values.AccessKey ?? string.Empty, values.SecretKey ?? string.Empty, values.SessionToken);
        var credential = values.Credential is null
            ? null
            : KeysFrom(values.Credential) ?? throw new NitroEnclaveException("AwsCredentialUnsupported", ErrorKind.InvalidArgument,
                "-Credential must be AWS credentials (an object with GetCredentials(), or with AccessKey and SecretKey).");
        var (storedKeys, storedProfile) = StoredCredentials(variable(StoredCredentialsVariable));
        return AwsSettingsResolver.Resolve(
            explicitKeys,
            credential,
            values.ProfileName,
            values.ProfileLocation,
            storedKeys,
            storedProfile,
            RegionName(values.Region, "-Region"),
            RegionName(variable(StoredRegionVariable), "$StoredAWSRegion"),
            values.EndpointUrl);
    }

    /// <summary>
    /// $StoredAWSCredentials as Set-AWSCredential leaves it (an AWS.Tools AWSPSCredentials wrapper, whose credentials
    /// and name are internal members), a profile name, or a credentials object set by hand. Anything else is an error:
    /// falling through to the default profile would sign with another identity than the one the user chose.
    /// </summary>
    private static (AwsKeys? Keys, string? Profile) StoredCredentials(object? stored)
    {
        var value = Unwrap(stored);
        switch (value)
        {
            case null:
                return (null, null);
            case string profile when !string.IsNullOrWhiteSpace(profile):
                return (null, profile);
        }

        var wrapped = InternalMember(value, "Credentials");
        var keys = KeysFrom(PSObject.AsPSObject(wrapped ?? stored!));
        return keys is not null
            ? (keys, null)
            : throw new NitroEnclaveException(AwsSettingsResolver.StoredCredentialsUnusable, ErrorKind.InvalidArgument,
                $"$StoredAWSCredentials holds a {value.GetType().FullName} that gives no AWS credentials: run Set-AWSCredential again, or Remove-Variable StoredAWSCredentials -Scope Global.");
    }

    /// <summary>
    /// A region name from a string, an SDK RegionEndpoint (SystemName) or an AWS.Tools AWSRegion (Region); another
    /// object is an error naming where it came from.
    /// </summary>
    private static string? RegionName(object? region, string from)
    {
        var value = Unwrap(region);
        var name = value switch
        {
            null => null,
            string text => text,
            // Kept wrapped: a PSCustomObject's properties live on its PSObject, not on the base object.
            _ => PSObject.AsPSObject(region!).Properties["SystemName"]?.Value as string ?? PSObject.AsPSObject(region!).Properties["Region"]?.Value as string,
        };
        return value is null || !string.IsNullOrWhiteSpace(name)
            ? name
            : throw new NitroEnclaveException(AwsSettingsResolver.InvalidRegion, ErrorKind.InvalidArgument,
                $"{from} must be a region name such as eu-west-1 or a region object (RegionEndpoint, AWSRegion), not a {value.GetType().FullName}.");
    }

    /// <summary>A property that is not public (AWS.Tools keeps the wrapped credentials internal).</summary>
    private static object? InternalMember(object value, string name) =>
        value.GetType().GetProperty(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.GetValue(value);

    private static object? Unwrap(object? value) => value is PSObject wrapped ? wrapped.BaseObject : value;

    private static AwsKeys? KeysFrom(PSObject value)
    {
        var source = value;
        if (value.Methods["GetCredentials"] is { } getCredentials)
        {
            source = PSObject.AsPSObject(getCredentials.Invoke());
        }

        string? Read(string name) => source.BaseObject is IDictionary table
            ? table.Contains(name) ? Unwrap(table[name])?.ToString() : null
            : source.Properties[name]?.Value?.ToString();

        var accessKey = Read("AccessKey");
        var secretKey = Read("SecretKey");
        var token = Read("Token") ?? Read("SessionToken");
        return string.IsNullOrEmpty(accessKey) || string.IsNullOrEmpty(secretKey) ? null : new AwsKeys(accessKey, secretKey, string.IsNullOrEmpty(token) ? null : token);
    }
}

/// <summary>The AWS parameters as given on a command line (or as session defaults), before precedence is applied.</summary>
internal sealed record AwsParameterValues(
    object? Region,
    string? ProfileName,
    string? ProfileLocation,
    string? AccessKey,
    string? SecretKey,
    string? SessionToken,
    PSObject? Credential,
    string? EndpointUrl)
{
    /// <summary>Not the record's generated text, which would print the secret key.</summary>
    public override string ToString() => $"AWS parameters (access key {AccessKey ?? "none"}, profile {ProfileName ?? "none"}, region {Region ?? "none"})";
}
