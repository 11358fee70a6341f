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
    public string? Region { get; set; }

    [Parameter]
    [Alias("StoredCredentials")]
    [ValidateNotNullOrEmpty]
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

    /// <summary>Resolves the AWS parameters and shell defaults; a bad combination stops the cmdlet.</summary>
    protected AwsConnectionSettings ResolveAwsSettings()
    {
        try
        {
            // -SessionToken alone is a mistake worth reporting, not a parameter to drop silently.
            var explicitKeys = AccessKey is null && SecretKey is null && SessionToken is null ? null : new AwsKeys(AccessKey ?? string.Empty, SecretKey ?? string.Empty, SessionToken);
            // The simulation's session default yields to credentials the user gives on the command line.
            var credential = Credential is null || IsSimulationDefaultOverridden()
                ? null
                : KeysFrom(Credential) ?? throw new NitroEnclaveException("AwsCredentialUnsupported", ErrorKind.InvalidArgument,
                    "-Credential must be AWS credentials (an object with GetCredentials(), or with AccessKey and SecretKey).");
            // Kept wrapped: a PSCustomObject's properties live on its PSObject, not on the base object.
            var stored = SessionState.PSVariable.GetValue(StoredCredentialsVariable);
            var storedProfile = Unwrap(stored) as string;
            var storedKeys = Unwrap(stored) is null or string ? null : KeysFrom(PSObject.AsPSObject(stored));
            var storedRegion = Unwrap(SessionState.PSVariable.GetValue(StoredRegionVariable))?.ToString();
            return AwsSettingsResolver.Resolve(explicitKeys, credential, ProfileName, ProfileLocation, storedKeys, storedProfile, Region, storedRegion, EndpointUrl);
        }
        catch (NitroEnclaveException exception)
        {
            ThrowTerminatingError(ToErrorRecord(exception, null));
            throw;
        }
    }

    private bool IsSimulationDefaultOverridden() =>
        Credential?.BaseObject is AwsKeyCredential given
        && SimulationRegistry.Current(System.Management.Automation.Runspaces.Runspace.DefaultRunspace) is { } simulation
        && ReferenceEquals(given, simulation.Credential)
        && (AccessKey is not null || ProfileName is not null);

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
