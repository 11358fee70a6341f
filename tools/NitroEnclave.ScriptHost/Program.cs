using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NitroEnclave.ScriptHost;

// Usage: NitroEnclave.ScriptHost <script.ps1> [arguments...]
// Runs the script as pwsh -File would: output through Out-Default, errors shown, exit code 1 when it failed.
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

return shell.HadErrors ? 1 : host.ExitCode;
