using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using NitroEnclave.Aws;
using NitroEnclave.Detection;
using NitroEnclave.Enclave;
using NitroEnclave.Protocol;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// What the completers share: values filtered by the typed prefix (ignoring case and an opening quote), quoted when
/// they hold spaces or characters PowerShell would read otherwise. A completer never throws: a failure completes nothing.
/// </summary>
internal static class Completion
{
    public static IEnumerable<CompletionResult> Matching(IEnumerable<(string Value, string ToolTip)> candidates, string? wordToComplete)
    {
        var prefix = (wordToComplete ?? string.Empty).TrimStart('\'', '"').TrimEnd('\'', '"');
        return candidates
            .Where(c => c.Value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(c => new CompletionResult(Quote(c.Value), c.Value, CompletionResultType.ParameterValue, c.ToolTip.Length == 0 ? c.Value : c.ToolTip))
            .ToList();
    }

    /// <summary>
    /// A session variable. Completion runs inside a pipeline, where the runspace's SessionStateProxy refuses calls,
    /// so the variable is read by a nested command in the same runspace.
    /// </summary>
    public static object? Variable(string name)
    {
        using var shell = System.Management.Automation.PowerShell.Create(RunspaceMode.CurrentRunspace);
        shell.AddCommand("Microsoft.PowerShell.Utility\\Get-Variable").AddParameter("Name", name).AddParameter("ValueOnly").AddParameter("ErrorAction", ActionPreference.Ignore);
        return shell.Invoke().FirstOrDefault();
    }

    /// <summary>
    /// A parameter's value as the command would get it: from the command line typed so far, else from
    /// $PSDefaultParameterValues (plain values only; script block defaults are not run for a completion).
    /// </summary>
    public static object? ParameterValue(string commandName, string parameter, IDictionary fakeBoundParameters)
    {
        if (fakeBoundParameters.Contains(parameter))
        {
            return Unwrap(fakeBoundParameters[parameter]);
        }

        if (Unwrap(Variable("PSDefaultParameterValues")) is not IDictionary defaults || LanguagePrimitives.IsTrue(Unwrap(defaults["Disabled"])))
        {
            return null;
        }

        // A module-qualified name (NitroEnclave\Protect-EnclaveFile) counts as the command's own.
        var command = commandName[(commandName.LastIndexOf('\\') + 1)..];
        foreach (DictionaryEntry entry in defaults)
        {
            if (entry.Key is string key && key.Split(':') is [var cmdlet, var name]
                && string.Equals(name.Trim(), parameter, StringComparison.OrdinalIgnoreCase)
                && new WildcardPattern(cmdlet.Trim(), WildcardOptions.IgnoreCase).IsMatch(command)
                && Unwrap(entry.Value) is { } value and not ScriptBlock)
            {
                return value;
            }
        }

        return null;
    }

    public static string? StringValue(string commandName, string parameter, IDictionary fakeBoundParameters) =>
        ParameterValue(commandName, parameter, fakeBoundParameters) is { } value ? LanguagePrimitives.ConvertTo<string>(value) : null;

    private static object? Unwrap(object? value) => value is PSObject wrapped ? wrapped.BaseObject : value;

    private static string Quote(string value) =>
        value.Any(c => char.IsWhiteSpace(c) || "'\"`$;,(){}@&|<>#".Contains(c))
            ? $"'{CodeGeneration.EscapeSingleQuotedStringContent(value)}'"
            : value;
}

/// <summary>-Region: the AWS Regions the SDK knows.</summary>
public sealed class AwsRegionCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Matching(AwsRegions.All.Select(r => (r.Name, $"{r.Name}: {r.DisplayName}")), wordToComplete);
}

/// <summary>-ProfileName: the profiles of the shared credentials and config files (or of the -ProfileLocation file typed).</summary>
public sealed class AwsProfileNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var location = Completion.StringValue(commandName, nameof(AwsCmdlet.ProfileLocation), fakeBoundParameters);
        return Completion.Matching(AwsSharedProfiles.Names(location).Select(n => (n, $"AWS profile '{n}'")), wordToComplete);
    }
}

/// <summary>-Class: the labels of the model the module ships (the enclave server's default model).</summary>
public sealed class DetectionClassCompleter : IArgumentCompleter
{
    private static readonly Lazy<IReadOnlyList<string>> Labels = new(ReadShippedLabels);

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Matching(Labels.Value.Select(l => (l, $"Objects labelled '{l}'")), wordToComplete);

    private static IReadOnlyList<string> ReadShippedLabels()
    {
        var moduleDirectory = Path.GetDirectoryName(typeof(DetectionClassCompleter).Assembly.Location)!;
        var labels = Path.Combine(moduleDirectory, "enclavehost", "models", Path.ChangeExtension(DetectorOptions.DefaultModelFileName, ".labels.txt"));
        try
        {
            return DetectionClasses.ReadLabelsFile(labels);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}

/// <summary>-EnclaveName: the names of the running enclaves (nitro-cli describe-enclaves).</summary>
public sealed class EnclaveNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Matching(
            RunningEnclaves.List().Where(e => !string.IsNullOrEmpty(e.EnclaveName)).Select(e => (e.EnclaveName!, $"{e.EnclaveName}: enclave {e.EnclaveID}, CID {e.EnclaveCID}")),
            wordToComplete);
}

/// <summary>-Id: the ids of the running enclaves (nitro-cli describe-enclaves).</summary>
public sealed class EnclaveIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Matching(
            RunningEnclaves.List().Select(e => (e.EnclaveID, $"{e.EnclaveID}: {(e.EnclaveName is null ? string.Empty : $"'{e.EnclaveName}', ")}CID {e.EnclaveCID}")),
            wordToComplete);
}

internal static class RunningEnclaves
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    /// <summary>The session's simulated enclave, if one runs, and the enclaves nitro-cli lists (none when it is missing, fails or is slow).</summary>
    public static IReadOnlyList<EnclaveInfo> List()
    {
        var running = new List<EnclaveInfo>();
        if (SimulationRegistry.Current(System.Management.Automation.Runspaces.Runspace.DefaultRunspace) is { IsRunning: true } simulation)
        {
            running.AddRange(simulation.DescribeEnclaves());
        }

        try
        {
            using var deadline = new CancellationTokenSource(Deadline);
            running.AddRange(EnclaveLocator.Running(NitroCli.Locate().DescribeEnclaves(deadline.Token)));
        }
        catch (Exception ex) when (ex is NitroEnclaveException or OperationCanceledException)
        {
            // No nitro-cli here (the usual case beside a simulation): complete what is known.
        }

        return running;
    }
}

/// <summary>
/// -KeyId: the account's KMS aliases, asked of KMS with the AWS parameters typed so far and the session's defaults,
/// only when that is cheap (see <see cref="KmsAliasLister"/>).
/// </summary>
public sealed class KmsAliasCompleter : IArgumentCompleter
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(3);

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string? Text(string name) => Completion.StringValue(commandName, name, fakeBoundParameters);
        AwsConnectionSettings settings;
        try
        {
            var credential = Completion.ParameterValue(commandName, nameof(AwsCmdlet.Credential), fakeBoundParameters);
            settings = AwsCmdlet.Resolve(
                new AwsParameterValues(
                    Text(nameof(AwsCmdlet.Region)),
                    Text(nameof(AwsCmdlet.ProfileName)),
                    Text(nameof(AwsCmdlet.ProfileLocation)),
                    Text(nameof(AwsCmdlet.AccessKey)),
                    Text(nameof(AwsCmdlet.SecretKey)),
                    Text(nameof(AwsCmdlet.SessionToken)),
                    credential is null ? null : PSObject.AsPSObject(credential),
                    Text(nameof(AwsCmdlet.EndpointUrl))),
                Completion.Variable);
        }
        catch (Exception ex) when (ex is NitroEnclaveException or PSInvalidCastException or PSInvalidOperationException)
        {
            return [];
        }

        return Completion.Matching(KmsAliasLister.TryList(settings, Deadline).Select(a => (a.AliasName, $"{a.AliasName}: key {a.TargetKeyId}")), wordToComplete);
    }
}
