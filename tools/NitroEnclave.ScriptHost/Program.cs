using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NitroEnclave.ScriptHost;

// Usage: NitroEnclave.ScriptHost <script.ps1> [arguments...]
// Runs the script as pwsh -File would: output through Out-Default, errors shown, exit code 1 when a terminating
// error escapes it, else the code it passed to exit.
if (args.Length == 0 || !File.Exists(args[0]))
{
    Console.Error.WriteLine("usage: NitroEnclave.ScriptHost <script.ps1> [arguments...]");
    return 2;
}

var host = new ConsoleHost();
using var runspace = RunspaceFactory.CreateRunspace(host, InitialSessionState.CreateDefault2());
runspace.Open();
using var shell = PowerShell.Create();
shell.Runspace = runspace;
shell.AddCommand(Path.GetFullPath(args[0]));
foreach (var argument in args.Skip(1))
{
    shell.AddArgument(argument);
}

shell.AddCommand("Out-Default");
shell.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
try
{
    shell.Invoke();
}
catch (RuntimeException ex)
{
    Console.Error.WriteLine(ex.ErrorRecord is { } record ? $"{record.FullyQualifiedErrorId}: {ex.Message}" : ex.Message);
    return 1;
}

// As pwsh -File: errors the script handled itself do not fail it; an escaping terminating error does (above).
return host.ExitCode;
