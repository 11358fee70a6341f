using System.Management.Automation.Language;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>
/// The Pester suites run where pwsh and Pester are installed. Here we check that every file parses and calls only
/// commands that exist: the module's exports, Pester's keywords, the suite's own functions, and the standard pwsh cmdlets.
/// </summary>
public sealed class PesterSuiteTests
{
    private static readonly string PesterDirectory = Path.Combine(ModuleHost.RepositoryRoot, "tests", "Pester");

    /// <summary>Pester 5's public commands.</summary>
    private static readonly HashSet<string> PesterCommands = new(StringComparer.OrdinalIgnoreCase)
    {
        "Describe", "Context", "It", "Should", "BeforeAll", "AfterAll", "BeforeEach", "AfterEach", "BeforeDiscovery",
        "Mock", "Should-Invoke", "InModuleScope", "Set-ItResult", "New-PesterContainer", "Invoke-Pester", "New-PesterConfiguration",
        "Assert-MockCalled", "New-MockObject", "Add-ShouldOperator",
    };

    /// <summary>Standard pwsh 7 cmdlets from modules the hosted engine lacks (Management, Utility).</summary>
    private static readonly HashSet<string> StandardPwshCommands = new(StringComparer.OrdinalIgnoreCase)
    {
        "Join-Path", "Test-Path", "Split-Path", "Resolve-Path", "Get-Item", "Get-ChildItem", "New-Item", "Remove-Item", "Copy-Item",
        "Move-Item", "Rename-Item", "Get-Content", "Set-Content", "Add-Content", "Clear-Content", "Get-Location", "Set-Location",
        "Push-Location", "Pop-Location", "Get-Process", "Stop-Process", "Start-Process", "Wait-Process",
        "Select-Object", "Sort-Object", "Group-Object", "Measure-Object", "Compare-Object", "Write-Output", "Write-Host",
        "ConvertTo-Json", "ConvertFrom-Json", "Get-Date", "New-TemporaryFile", "Get-FileHash", "Out-File", "Out-String", "Out-Null",
        "Get-Random", "Start-Sleep", "Get-Member", "Add-Member", "New-Object", "Select-String", "Format-Table", "Format-List",
        "Import-PowerShellDataFile", "Invoke-WebRequest", "Invoke-RestMethod", "Get-Variable", "Set-Variable", "New-Guid", "Invoke-Expression", "Tee-Object", "Export-Clixml", "Import-Clixml",
    };

    public static TheoryData<string> PesterFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(PesterDirectory, "*.ps1", SearchOption.AllDirectories).Order())
        {
            data.Add(Path.GetRelativePath(PesterDirectory, file));
        }

        return data;
    }

    [Fact]
    public void There_is_a_Pester_suite_for_every_exported_cmdlet()
    {
        var exported = ModuleHost.Run("(Get-Module NitroEnclave).ExportedCmdlets.Keys").AssertNoErrors().Output.Select(o => (string)o.BaseObject);
        var suites = string.Join('\n', Directory.EnumerateFiles(PesterDirectory, "*.Tests.ps1", SearchOption.AllDirectories).Select(File.ReadAllText));

        Assert.All(exported, cmdlet => Assert.Contains(cmdlet, suites, StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [MemberData(nameof(PesterFiles))]
    public void A_Pester_file_parses_and_calls_only_commands_that_exist(string relativePath)
    {
        var path = Path.Combine(PesterDirectory, relativePath);
        var ast = Parser.ParseFile(path, out _, out var errors);
        Assert.Empty(errors);

        var ownFunctions = Directory.EnumerateFiles(PesterDirectory, "*.ps1", SearchOption.AllDirectories)
            .SelectMany(f => Parser.ParseFile(f, out _, out _).FindAll(a => a is FunctionDefinitionAst, true))
            .Select(f => ((FunctionDefinitionAst)f).Name);
        var known = new HashSet<string>(PesterCommands.Concat(StandardPwshCommands).Concat(ownFunctions), StringComparer.OrdinalIgnoreCase);
        var engine = ModuleHost.Run("Get-Command -CommandType Cmdlet, Function, Alias | ForEach-Object Name").AssertNoErrors();
        known.UnionWith(engine.Output.Select(o => (string)o.BaseObject));

        var called = ast.FindAll(a => a is CommandAst, true).Cast<CommandAst>()
            .Select(c => c.GetCommandName())
            .Where(name => name is not null && !name.Contains('\\') && !name.Contains('/') && !name.StartsWith('.'))
            .Distinct(StringComparer.OrdinalIgnoreCase);

        Assert.All(called, name => Assert.True(known.Contains(name!), $"{relativePath} calls '{name}', which is not a known command"));
    }
}
