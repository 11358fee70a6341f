using System.Management.Automation.Language;
using System.Runtime.Loader;

namespace NitroEnclave.PowerShell.Tests;

public sealed class ModuleTests
{
    [Fact]
    public void The_manifest_exports_exactly_the_cmdlets_the_assembly_defines()
    {
        var exported = ModuleHost.Run("(Get-Module NitroEnclave).ExportedCmdlets.Keys").AssertNoErrors()
            .Output.Select(o => (string)o.BaseObject).Order().ToList();
        var inAssembly = ModuleHost.Run("""
            (Get-Module NitroEnclave).ImplementingAssembly.GetTypes() |
                ForEach-Object { $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) } |
                ForEach-Object { '{0}-{1}' -f $_.VerbName, $_.NounName }
            """).AssertNoErrors().Output.Select(o => (string)o.BaseObject).Order().ToList();

        Assert.Equal(inAssembly, exported);
        Assert.Contains("Get-EnclavePcr", exported);
    }

    [Fact]
    public void The_manifest_is_valid_and_declares_edition_version_formats_and_no_wildcards()
    {
        var result = ModuleHost.Run("Test-ModuleManifest -Path $p", new Dictionary<string, object?> { ["p"] = ModuleHost.ModuleManifest }, importModule: false).AssertNoErrors();
        var module = (System.Management.Automation.PSModuleInfo)Assert.Single(result.Output).BaseObject;

        Assert.Equal(["Core"], module.CompatiblePSEditions);
        Assert.Equal(new Version(7, 4), module.PowerShellVersion);
        Assert.NotEmpty(module.ExportedFormatFiles);
        Assert.All(module.ExportedFormatFiles, f => Assert.True(File.Exists(f), f));
        var assemblyVersion = System.Reflection.AssemblyName.GetAssemblyName(Path.Combine(Path.GetDirectoryName(ModuleHost.ModuleManifest)!, "NitroEnclave.PowerShell.dll")).Version!;
        Assert.Equal(module.Version, new Version(assemblyVersion.Major, assemblyVersion.Minor, assemblyVersion.Build));
        var text = File.ReadAllText(ModuleHost.ModuleManifest);
        Assert.DoesNotContain("'*'", text, StringComparison.Ordinal);
        Assert.NotNull(((System.Collections.Hashtable)module.PrivateData)["PSData"]);
    }

    [Fact]
    public void The_module_imports_beside_older_AWSSDK_Core_and_YamlDotNet_and_uses_its_own()
    {
        // The harness loaded AWSSDK.Core 3.7 and YamlDotNet 13 into the default context before any import.
        var defaultVersions = AssemblyLoadContext.Default.Assemblies
            .Where(a => a.GetName().Name is "AWSSDK.Core" or "YamlDotNet")
            .ToDictionary(a => a.GetName().Name!, a => a.GetName().Version!.Major);
        Assert.Equal(3, defaultVersions["AWSSDK.Core"]);
        Assert.Equal(13, defaultVersions["YamlDotNet"]);

        var result = ModuleHost.Run("""
            $context = [System.Runtime.Loader.AssemblyLoadContext]::All | Where-Object Name -eq 'NitroEnclave'
            $context.LoadFromAssemblyName([System.Reflection.AssemblyName]::new('AWSSDK.Core')).GetName().Version.Major
            $context.LoadFromAssemblyName([System.Reflection.AssemblyName]::new('YamlDotNet')).GetName().Version.Major
            $core = (Get-Module NitroEnclave).ImplementingAssembly.GetReferencedAssemblies() | Where-Object Name -eq 'NitroEnclave.Core'
            [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext([System.Reflection.Assembly]::Load($core)).Name
            """).AssertNoErrors();

        Assert.Equal([4, 18], result.Output.Take(2).Select(o => (int)o.BaseObject));
        Assert.Equal("NitroEnclave", result.Output[2].BaseObject);
    }
}
