using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using System.Security;
using System.Text;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>What a script produced: output objects, errors with their ids, warnings, and the text Out-Default shows.</summary>
public sealed class ScriptResult
{
    public required IReadOnlyList<PSObject> Output { get; init; }

    public required IReadOnlyList<ErrorRecord> Errors { get; init; }

    public required IReadOnlyList<WarningRecord> Warnings { get; init; }

    public required IReadOnlyList<InformationRecord> Information { get; init; }

    public IReadOnlyList<ProgressRecord> Progress { get; init; } = [];

    /// <summary>The output objects as the console would format them.</summary>
    public required string FormattedText { get; init; }

    /// <summary>The terminating error, if the script stopped on one.</summary>
    public RuntimeException? Terminating { get; init; }

    public IEnumerable<string> ErrorIds => Errors.Select(e => e.FullyQualifiedErrorId.Split(',')[0]);

    /// <summary>Fails with the script's errors when it reported any.</summary>
    public ScriptResult AssertNoErrors()
    {
        Assert.True(Terminating is null && Errors.Count == 0, string.Join(Environment.NewLine, Errors.Select(e => $"{e.FullyQualifiedErrorId}: {e}").Append(Terminating?.ToString() ?? string.Empty)));
        return this;
    }
}

/// <summary>
/// Hosts the real PowerShell engine, imports the built module from out/NitroEnclave and runs script text in a fresh
/// runspace, as a user would.
/// </summary>
public static class ModuleHost
{
    /// <summary>The secret key behind an output object's Credential (which does not print it), as -Credential reads it.</summary>
    public static string SecretOf(PSObject output)
    {
        var credential = PSObject.AsPSObject(output.Properties["Credential"].Value);
        var keys = PSObject.AsPSObject(credential.Methods["GetCredentials"].Invoke());
        return (string)keys.Properties["SecretKey"].Value;
    }

    static ModuleHost()
    {
        // The session already holds other versions of the module's dependencies before the module is imported.
        ConflictingAssemblies = [typeof(Amazon.Runtime.AWSCredentials).Assembly, typeof(YamlDotNet.Serialization.Deserializer).Assembly];
    }

    public static IReadOnlyList<System.Reflection.Assembly> ConflictingAssemblies { get; }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string ModuleManifest { get; } = Path.Combine(RepositoryRoot, "out", "NitroEnclave", "NitroEnclave.psd1");

    /// <summary>Runs <paramref name="script"/> after importing the module, in a session of its own that closes after it.</summary>
    public static ScriptResult Run(string script, IDictionary<string, object?>? variables = null, bool importModule = true)
    {
        using var session = OpenSession(importModule);
        return session.Run(script, variables);
    }

    /// <summary>
    /// A session that stays open across scripts, for fixtures whose servers must outlive one script: what a session
    /// starts (a local KMS, a simulation) stops when it closes.
    /// </summary>
    public static ModuleSession OpenSession(bool importModule = true) => new(importModule);

    public sealed class ModuleSession : IDisposable
    {
        private readonly CapturingHost _host = new();
        private readonly Runspace _runspace;

        internal ModuleSession(bool importModule)
        {
            _runspace = RunspaceFactory.CreateRunspace(_host, InitialSessionState.CreateDefault2());
            _runspace.Open();
            if (importModule)
            {
                using var shell = System.Management.Automation.PowerShell.Create();
                shell.Runspace = _runspace;
                shell.AddCommand("Import-Module").AddParameter("Name", ModuleManifest).AddParameter("ErrorAction", "Stop").Invoke();
            }
        }

        /// <summary>Runs <paramref name="script"/>; variables are set in the session first.</summary>
        public ScriptResult Run(string script, IDictionary<string, object?>? variables = null)
        {
            foreach (var (name, value) in variables ?? new Dictionary<string, object?>())
            {
                _runspace.SessionStateProxy.SetVariable(name, value);
            }

            var textBefore = _host.Text.Length;
            using var shell = System.Management.Automation.PowerShell.Create();
            shell.Runspace = _runspace;
            Collection<PSObject> output = [];
            RuntimeException? terminating = null;
            try
            {
                shell.AddScript(script);
                output = shell.Invoke();
            }
            catch (RuntimeException ex)
            {
                terminating = ex;
            }

            var errors = shell.Streams.Error.ToList();
            var warnings = shell.Streams.Warning.ToList();
            var information = shell.Streams.Information.ToList();
            var progress = shell.Streams.Progress.ToList();

            shell.Commands.Clear();
            shell.Streams.ClearStreams();
            shell.AddCommand("Out-Default");
            shell.Invoke(output);

            return new ScriptResult
            {
                Output = output,
                Errors = errors,
                Warnings = warnings,
                Information = information,
                Progress = progress,
                FormattedText = _host.Text[textBefore..],
                Terminating = terminating,
            };
        }

        public void Dispose() => _runspace.Dispose();
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "NitroEnclave.psd1")) && Directory.Exists(Path.Combine(dir.FullName, "src")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root above " + AppContext.BaseDirectory);
    }

    /// <summary>A console host that keeps everything written to it, so Out-Default's formatting can be asserted.</summary>
    private sealed class CapturingHost : PSHost
    {
        private readonly CapturingUserInterface _ui = new();

        public string Text => _ui.Text;

        public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;

        public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;

        public override Guid InstanceId { get; } = Guid.NewGuid();

        public override string Name => "NitroEnclaveTestHost";

        public override PSHostUserInterface UI => _ui;

        public override Version Version => new(1, 0);

        public override void EnterNestedPrompt() => throw new NotSupportedException();

        public override void ExitNestedPrompt() => throw new NotSupportedException();

        public override void NotifyBeginApplication()
        {
        }

        public override void NotifyEndApplication()
        {
        }

        public override void SetShouldExit(int exitCode)
        {
        }
    }

    private sealed class CapturingUserInterface : PSHostUserInterface
    {
        private readonly StringBuilder _text = new();
        private readonly CapturingRawUserInterface _raw = new();

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public override PSHostRawUserInterface RawUI => _raw;

        public override void Write(string value) => Append(value);

        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Append(value);

        public override void WriteLine(string value) => Append(value + "\n");

        public override void WriteErrorLine(string value) => Append("ERROR: " + value + "\n");

        public override void WriteDebugLine(string message) => Append("DEBUG: " + message + "\n");

        public override void WriteVerboseLine(string message) => Append("VERBOSE: " + message + "\n");

        public override void WriteWarningLine(string message) => Append("WARNING: " + message + "\n");

        public override void WriteProgress(long sourceId, ProgressRecord record)
        {
        }

        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) =>
            throw new NotSupportedException("Tests never prompt.");

        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice) =>
            throw new NotSupportedException("Tests never prompt.");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
            throw new NotSupportedException("Tests never prompt.");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
            throw new NotSupportedException("Tests never prompt.");

        public override string ReadLine() => throw new NotSupportedException("Tests never prompt.");

        public override SecureString ReadLineAsSecureString() => throw new NotSupportedException("Tests never prompt.");

        private void Append(string value)
        {
            lock (_text)
            {
                _text.Append(value);
            }
        }
    }

    private sealed class CapturingRawUserInterface : PSHostRawUserInterface
    {
        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

        public override Size BufferSize { get; set; } = new(200, 1000);

        public override Coordinates CursorPosition { get; set; }

        public override int CursorSize { get; set; }

        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

        public override bool KeyAvailable => false;

        public override Size MaxPhysicalWindowSize => new(200, 1000);

        public override Size MaxWindowSize => new(200, 1000);

        public override Coordinates WindowPosition { get; set; }

        public override Size WindowSize { get; set; } = new(200, 1000);

        public override string WindowTitle { get; set; } = string.Empty;

        public override void FlushInputBuffer()
        {
        }

        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();

        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException();

        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) => throw new NotSupportedException();

        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) => throw new NotSupportedException();

        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) => throw new NotSupportedException();
    }
}
