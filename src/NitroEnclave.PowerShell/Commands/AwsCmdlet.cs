using System.Collections;
using System.Management.Automation;
using NitroEnclave.Aws;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// The AWS parameters of AWS Tools for PowerShell, shared by every cmdlet that calls AWS. They resolve into a Core
/// <see cref="AwsConnectionSettings"/>: this assembly never touches AWS SDK types (they live in the module's private
/// load context), so -Credential is duck-typed: anything with GetCredentials() (an AWS.Tools AWSCredentials), with
/// AccessKey/SecretKey properties, or a hashtable with those keys.
/// </summary>
public abstract class AwsCmdlet : NitroEnclaveCmdlet
{
    private const string StoredCredentialsVariable = "StoredAWSCredentials";
    private const string StoredRegionVariable = "StoredAWSRegion";

    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(AwsRegionCompleter))]
    public string? Region { get; set; }

    [Parameter]
    [Alias("StoredCredentials")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(AwsProfileNameCompleter))]
    public string? ProfileName { get; set; }

    [Parameter]
    [Alias("AWSProfilesLocation", "ProfilesLocation")]
    [ValidateNotNullOrEmpty]
    public string? ProfileLocation { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AccessKey { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SecretKey { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SessionToken { get; set; }

    [Parameter]
    [ValidateNotNull]
    public PSObject? Credential { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? EndpointUrl { get; set; }

    /// <summary>
    /// Resolves the AWS parameters and shell defaults; a bad combination stops the cmdlet. -Verbose says where the
    /// credentials come from and, for a cmdlet that calls KMS itself (<paramref name="callsKms"/>), the region and endpoint.
    /// </summary>
    protected AwsConnectionSettings ResolveAwsSettings(bool callsKms = true)
    {
        AwsConnectionSettings settings;
        try
        {
            settings = Resolve(
                new AwsParameterValues(Region, ProfileName, ProfileLocation, AccessKey, SecretKey, SessionToken, Credential, EndpointUrl),
                SessionState.PSVariable.GetValue);
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

        return settings;
    }

    /// <summary>The precedence of the AWS parameters, session variables (read through <paramref name="variable"/>) and the SDK chain.</summary>
    internal static AwsConnectionSettings Resolve(AwsParameterValues values, Func<string, object?> variable)
    {
        // -SessionToken alone is a mistake worth reporting, not a parameter to drop silently.
        var explicitKeys = values.AccessKey is null && values.SecretKey is null && values.SessionToken is null
            ? null
            : new AwsKeys(values.AccessKey ?? string.Empty, values.SecretKey ?? string.Empty, values.SessionToken);
        // The simulation's session default yields to credentials the user gives on the command line.
        var credential = values.Credential is null || IsSimulationDefaultOverridden(values)
            ? null
            : KeysFrom(values.Credential) ?? throw new NitroEnclaveException("AwsCredentialUnsupported", ErrorKind.InvalidArgument,
                "-Credential must be AWS credentials (an object with GetCredentials(), or with AccessKey and SecretKey).");
        // Kept wrapped: a PSCustomObject's properties live on its PSObject, not on the base object.
        var stored = variable(StoredCredentialsVariable);
        var storedProfile = Unwrap(stored) as string;
        var storedKeys = Unwrap(stored) is null or string ? null : KeysFrom(PSObject.AsPSObject(stored));
        var storedRegion = Unwrap(variable(StoredRegionVariable))?.ToString();
        return AwsSettingsResolver.Resolve(explicitKeys, credential, values.ProfileName, values.ProfileLocation, storedKeys, storedProfile, values.Region, storedRegion, values.EndpointUrl);
    }

    private static bool IsSimulationDefaultOverridden(AwsParameterValues values) =>
        values.Credential?.BaseObject is AwsKeyCredential given
        && SimulationRegistry.Current(System.Management.Automation.Runspaces.Runspace.DefaultRunspace) is { } simulation
        && ReferenceEquals(given, simulation.Credential)
        && (values.AccessKey is not null || values.ProfileName is not null);

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
    string? Region,
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
