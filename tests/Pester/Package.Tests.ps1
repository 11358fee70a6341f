#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

# The package as users get it: out/NitroEnclave.<version>.nupkg published to a repository (a local folder stands in
# for the gallery), installed with Install-PSResource, then imported by name in a fresh pwsh that runs the quick start.
# Every step runs in a child pwsh whose HOME is a temporary folder, so the CurrentUser scope, the repository list and
# the module path are the test's own.

BeforeAll {
    # pwsh itself, also when it runs as a .NET tool (then ProcessPath is dotnet).
    $pwsh = Join-Path $PSHOME 'pwsh'
    $root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $version = (Import-PowerShellDataFile (Join-Path $root 'NitroEnclave.psd1')).ModuleVersion
    $package = Join-Path $root "out/NitroEnclave.$version.nupkg"

    # (Re)build the package when it is missing or older than the module folder it packs.
    $newest = Get-ChildItem (Join-Path $root 'out/NitroEnclave') -Recurse -File -ErrorAction SilentlyContinue |
        Sort-Object LastWriteTimeUtc | Select-Object -Last 1
    if (-not (Test-Path $package) -or ($newest -and $newest.LastWriteTimeUtc -gt (Get-Item $package).LastWriteTimeUtc)) {
        & $pwsh -NoProfile -NonInteractive -File (Join-Path $root 'build.ps1') -Task Package | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "./build.ps1 -Task Package failed with exit code $LASTEXITCODE" }
    }

    $userHome = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'home')).FullName
    $repository = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'repository')).FullName
    $installed = Join-Path $userHome ".local/share/powershell/Modules/NitroEnclave/$version"

    # Runs $Script in a fresh pwsh as a user whose home is $userHome; its output comes back as objects.
    function Invoke-AsUser([scriptblock] $Script, [object[]] $ArgumentList) {
        $names = 'HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'PSModulePath'
        $saved = @{}
        foreach ($name in $names) { $saved[$name] = [System.Environment]::GetEnvironmentVariable($name) }
        try {
            # Without these the child derives its user folders and module path from HOME alone.
            foreach ($name in $names) { [System.Environment]::SetEnvironmentVariable($name, $null) }
            [System.Environment]::SetEnvironmentVariable('HOME', $userHome)
            $output = & $pwsh -NoProfile -NonInteractive -Command $Script -args $ArgumentList 2>&1
        }
        finally {
            foreach ($name in $names) { [System.Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        }

        if ($LASTEXITCODE -ne 0) { throw "The child pwsh failed (exit code $LASTEXITCODE): $($output -join [System.Environment]::NewLine)" }
        $output
    }

    $install = Invoke-AsUser {
        param($Repository, $Package)
        $ErrorActionPreference = 'Stop'
        Register-PSResourceRepository -Name NitroEnclaveTest -Uri $Repository -Trusted
        Publish-PSResource -NupkgPath $Package -Repository NitroEnclaveTest
        Install-PSResource -Name NitroEnclave -Repository NitroEnclaveTest -Scope CurrentUser -TrustRepository -PassThru |
            ForEach-Object { "$($_.Name) $($_.Version)" }
    } $repository, $package
}

Describe 'The NitroEnclave package' {
    It 'is accepted by Publish-PSResource and installed by Install-PSResource -Name NitroEnclave' {
        $install | Should -Be "NitroEnclave $version"
        Join-Path $repository "NitroEnclave.$version.nupkg" | Should -Exist
        Join-Path $installed 'NitroEnclave.psd1' | Should -Exist
    }

    It 'ships ONNX Runtime only for the platforms the servers run on' {
        (Get-ChildItem (Join-Path $installed 'enclavehost/runtimes') -Directory).Name | Sort-Object |
            Should -Be @('linux-arm64', 'linux-x64')
    }

    It 'ships the SDK parts that assume-role, web identity and SSO profiles and the lockout check load, in deps/' {
        # AWSSDK.Core loads them by name from its own (the module's private) load context, so they must sit beside it.
        foreach ($assembly in 'AWSSDK.Core', 'AWSSDK.SecurityToken', 'AWSSDK.SSO', 'AWSSDK.SSOOIDC') {
            Join-Path $installed "deps/$assembly.dll" | Should -Exist
        }
    }

    It 'imported by name, runs the quick start: five airplanes, and the parent is denied' {
        $servers = (Join-Path $installed 'enclavehost/EnclaveHost'), (Join-Path $installed 'enclavehost-aot/EnclaveHost'), (Join-Path $installed 'localkms/NitroEnclave.LocalKms')
        # The case the module must handle: the package carries no file modes, so the servers arrive without execute bits.
        foreach ($server in $servers) {
            (Get-Item $server).UnixFileMode.HasFlag([System.IO.UnixFileMode]::UserExecute) | Should -BeFalse -Because "$server arrives as the installer left it"
        }

        $image = Join-Path $root 'tests/data/detection/air-show.jpg'
        $run = Invoke-AsUser {
            param($Image, $Work)
            $ErrorActionPreference = 'Stop'
            Import-Module NitroEnclave
            (Get-Module NitroEnclave).ModuleBase
            $simulation = Start-EnclaveSimulation -DataPath (Join-Path $Work 'simulation')
            try {
                # The data owner encrypts and pins; the parent (the session defaults) detects and is denied.
                $encrypted = Join-Path $Work 'air-show.jpg.enc'
                $null = Protect-EnclaveFile -LiteralPath $Image -Destination $encrypted -Credential $simulation.DataOwnerCredential
                # Already pinned by the simulation: it says there is nothing to change, which is not output here.
                Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal $simulation.ParentArn -Confirm:$false -Credential $simulation.DataOwnerCredential -InformationAction Ignore
                (Invoke-EnclaveDetection -LiteralPath $encrypted).Objects.Label -join ','
                try {
                    Unprotect-EnclaveFile -LiteralPath $encrypted -Destination (Join-Path $Work 'air-show.parent.jpg')
                    'the parent decrypted the file'
                }
                catch {
                    $_.FullyQualifiedErrorId
                }
            }
            finally {
                Stop-EnclaveSimulation
            }
        } $image, $TestDrive

        $run[0] | Should -Be $installed
        $run[1] -split ',' | Should -Be (@('airplane') * 5)
        $run[2] | Should -BeLike 'KmsAccessDenied*'
        # On linux-x64 the simulation runs the NativeAOT server (the image's), elsewhere the framework-dependent one.
        $ran = if ([System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture -eq 'X64') { $servers[1], $servers[2] } else { $servers[0], $servers[2] }
        foreach ($server in $ran) {
            (Get-Item $server).UnixFileMode.HasFlag([System.IO.UnixFileMode]::UserExecute) | Should -BeTrue -Because "the module made $server executable"
        }
    }
}
