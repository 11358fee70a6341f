#Requires -Version 7.4
<#
.SYNOPSIS
Builds, tests and packages the NitroEnclave module.

.DESCRIPTION
Build   dotnet build -c Release: lays out the module at out/NitroEnclave.
Test    Build, then the xunit suites (dotnet test), then the Pester 5 suites in tests/Pester when Pester is installed.
Package Build, then out/NitroEnclave.<version>.nupkg: Publish-PSResource -NupkgPath puts it in a repository, from
        which Install-PSResource -Name NitroEnclave installs it.
Clean   Removes out/ and every bin/ and obj/ folder.

.EXAMPLE
./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package', 'Clean')]
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

function Invoke-Build {
    Invoke-Native (Join-Path $root 'scripts/prepare.sh') @()
    Invoke-Native dotnet @('build', (Join-Path $root 'NitroEnclave.slnx'), '-c', $Configuration)
}

function Invoke-Test {
    Invoke-Build
    Invoke-Native dotnet @('test', (Join-Path $root 'NitroEnclave.slnx'), '-c', $Configuration, '--no-build')
    if (Get-Module -ListAvailable -Name Pester | Where-Object Version -ge '5.0') {
        $config = New-PesterConfiguration
        $config.Run.Path = Join-Path $root 'tests/Pester'
        $config.Run.Exit = $false
        $config.Run.Throw = $true
        $config.Output.Verbosity = 'Detailed'
        Invoke-Pester -Configuration $config
    } else {
        Write-Warning 'Pester 5 is not installed: skipped tests/Pester (Install-Module Pester -MinimumVersion 5.0).'
    }
}

function Invoke-Package {
    Invoke-Build
    $version = (Import-PowerShellDataFile (Join-Path $moduleDir 'NitroEnclave.psd1')).ModuleVersion
    $nupkg = Join-Path $root "out/NitroEnclave.$version.nupkg"
    Remove-Item -Force -ErrorAction SilentlyContinue $nupkg
    # PSResourceGet (shipped with pwsh 7.4) packs the module folder as Publish-PSResource would; the package then goes
    # to a gallery with Publish-PSResource -NupkgPath.
    Compress-PSResource -Path $moduleDir -DestinationPath (Join-Path $root 'out')
    Get-Item $nupkg
}

function Invoke-Clean {
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $root 'out')
    Get-ChildItem -Path $root -Directory -Recurse -Include bin, obj |
        Where-Object FullName -NotMatch 'node_modules' |
        Remove-Item -Recurse -Force
}

foreach ($t in $Task) {
    Write-Host "== $t" -ForegroundColor Cyan
    & "Invoke-$t"
}
