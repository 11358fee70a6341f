using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text.RegularExpressions;

namespace NitroEnclave.ScriptHost;

/// <summary>A minimal console host: output, errors, warnings and verbose text go to the terminal; prompts are refused.</summary>
internal sealed partial class ConsoleHost : PSHost
{
    private readonly ConsoleUserInterface _ui = new();

    public int ExitCode { get; private set; }

    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    public override Guid InstanceId { get; } = Guid.NewGuid();

    public override string Name => "NitroEnclave.ScriptHost";

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

    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;

    private sealed partial class ConsoleUserInterface : PSHostUserInterface
    {
        private readonly ConsoleRawUserInterface _raw = new();

        public override PSHostRawUserInterface RawUI => _raw;

        public override bool SupportsVirtualTerminal => !Console.IsOutputRedirected;

        public override void Write(string value) => Console.Write(Plain(value));

        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Console.Write(Plain(value));

        public override void WriteLine(string value) => Console.WriteLine(Plain(value));

        public override void WriteErrorLine(string value) => Console.Error.WriteLine(Plain(value));

        public override void WriteDebugLine(string message) => Console.Error.WriteLine("DEBUG: " + Plain(message));

        public override void WriteVerboseLine(string message) => Console.Error.WriteLine("VERBOSE: " + Plain(message));

        public override void WriteWarningLine(string message) => Console.Error.WriteLine("WARNING: " + Plain(message));

        /// <summary>Formatting colours its output with ANSI sequences; files and pipes get the text without them.</summary>
        private static string Plain(string text) => Console.IsOutputRedirected ? AnsiSequence().Replace(text, string.Empty) : text;

        [GeneratedRegex("\u001b\\[[0-9;]*[A-Za-z]")]
        private static partial Regex AnsiSequence();

        public override void WriteProgress(long sourceId, ProgressRecord record)
        {
        }

        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) =>
            throw new NotSupportedException("This host does not prompt; pass the values as parameters.");

        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice) =>
            throw new NotSupportedException("This host does not prompt; use -Confirm:$false.");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
            throw new NotSupportedException("This host does not prompt.");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
            throw new NotSupportedException("This host does not prompt.");

        public override string ReadLine() => throw new NotSupportedException("This host does not read input.");

        public override SecureString ReadLineAsSecureString() => throw new NotSupportedException("This host does not read input.");
    }

    private sealed class ConsoleRawUserInterface : PSHostRawUserInterface
    {
        private static readonly Size Window = new(Math.Max(120, Console.IsOutputRedirected ? 160 : Console.WindowWidth), 50);

        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

        public override Size BufferSize { get; set; } = Window;

        public override Coordinates CursorPosition { get; set; }

        public override int CursorSize { get; set; }

        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

        public override bool KeyAvailable => false;

        public override Size MaxPhysicalWindowSize => Window;

        public override Size MaxWindowSize => Window;

        public override Coordinates WindowPosition { get; set; }

        public override Size WindowSize { get; set; } = Window;

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
