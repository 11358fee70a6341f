#Requires -Version 7.4
<#
.SYNOPSIS
Builds, tests and packages the NitroEnclave module.

.DESCRIPTION
Build   dotnet build -c Release: lays out the module at out/NitroEnclave.
Test    Build, then the xunit suites (dotnet test), then Pester.
Pester  The Pester suites in tests/Pester against the built module, with the pinned Pester (tools/Pester), in this
        pwsh. The deployment suite (tag Deployment) needs a real deployment and runs only when asked for:
        see tests/Pester/Deployment.Tests.ps1.
Package Build, then out/NitroEnclave.<version>.nupkg: Publish-PSResource -NupkgPath puts it in a repository, from
        which Install-PSResource -Name NitroEnclave installs it.
Clean   Removes out/ and every bin/ and obj/ folder.

.EXAMPLE
./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Pester', 'Package', 'Clean')]
    [string[]] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$moduleDir = Join-Path $root 'out/NitroEnclave'

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-BuildTask {
    Invoke-Native (Join-Path $root 'scripts/prepare.sh') @()
    Invoke-Native dotnet @('build', (Join-Path $root 'NitroEnclave.slnx'), '-c', $Configuration)
}

function Invoke-TestTask {
    Invoke-BuildTask
    Invoke-Native dotnet @('test', (Join-Path $root 'NitroEnclave.slnx'), '-c', $Configuration, '--no-build')
    Invoke-PesterTask
}

function Import-PinnedPester {
    # The version CI pins (tools/Pester/Pester.csproj), not whatever Pester the machine has installed.
    $manifest = Join-Path $root 'tools/Pester/packages/pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path -LiteralPath $manifest)) {
        Invoke-Native dotnet @('restore', (Join-Path $root 'tools/Pester/Pester.csproj'))
    }
    Import-Module $manifest -Force
}

function Invoke-PesterTask {
    Import-PinnedPester
    $config = New-PesterConfiguration
    $config.Run.Path = Join-Path $root 'tests/Pester'
    $config.Run.PassThru = $true
    $config.Filter.ExcludeTag = 'Deployment'
    $config.Output.Verbosity = 'Normal'
    if ([Console]::IsOutputRedirected) { $config.Output.RenderMode = 'Plaintext' }
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputPath = Join-Path $root 'out/test-results/pester.xml'
    $result = Invoke-Pester -Configuration $config
    # Counts written as the xunit projects write theirs, for test.sh's summary.
    Write-Host ("Pester: Failed: {0}, Passed: {1}, Skipped: {2}, NotRun: {3}" -f $result.FailedCount, $result.PassedCount, $result.SkippedCount, $result.NotRunCount)
    if ($result.Result -ne 'Passed') { throw "Pester: $($result.FailedCount) test(s) and $($result.FailedBlocksCount) block(s) failed" }
}

function Invoke-PackageTask {
    Invoke-BuildTask
    $version = (Import-PowerShellDataFile (Join-Path $moduleDir 'NitroEnclave.psd1')).ModuleVersion
    $nupkg = Join-Path $root "out/NitroEnclave.$version.nupkg"
    Remove-Item -Force -ErrorAction SilentlyContinue $nupkg
    # PSResourceGet (shipped with pwsh 7.4) packs the module folder as Publish-PSResource would; the package then goes
    # to a gallery with Publish-PSResource -NupkgPath.
    Compress-PSResource -Path $moduleDir -DestinationPath (Join-Path $root 'out')
    Get-Item $nupkg
}

function Invoke-CleanTask {
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $root 'out')
    Get-ChildItem -Path $root -Directory -Recurse -Include bin, obj |
        Where-Object FullName -NotMatch 'node_modules' |
        Remove-Item -Recurse -Force
}

foreach ($t in $Task) {
    Write-Host "== $t" -ForegroundColor Cyan
    & "Invoke-${t}Task"
}
