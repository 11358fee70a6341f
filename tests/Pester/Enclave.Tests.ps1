#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $repoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    # The nitro-cli test double prints the documented JSON and keeps its enclaves in a state folder.
    $savedPath = $env:PATH
    $env:PATH = (Join-Path $repoRoot 'tests/data/fake-nitro-cli') + [System.IO.Path]::PathSeparator + $env:PATH
    $image = Join-Path $TestDrive 'app.eif'
    [System.IO.File]::WriteAllBytes($image, [byte[]]::new(5MB + 1))
}

AfterAll {
    $env:PATH = $savedPath
    Remove-Item Env:FAKE_NITRO_CLI_STATE, Env:FAKE_NITRO_CLI_FAIL -ErrorAction SilentlyContinue
}

Describe 'Enclave lifecycle' {
    BeforeEach {
        $env:FAKE_NITRO_CLI_STATE = Join-Path $TestDrive ([guid]::NewGuid())
        Remove-Item Env:FAKE_NITRO_CLI_FAIL -ErrorAction SilentlyContinue
    }

    It 'New-EnclaveImage returns the measurements of the built image' {
        $pcr = New-EnclaveImage -DockerUri 'app:1' -OutputPath (Join-Path $TestDrive 'built.eif')
        $pcr.PCR0 | Should -Match '^[0-9a-f]{96}$'
        $pcr.Path | Should -Be (Join-Path $TestDrive 'built.eif')
    }

    It 'Start-Enclave defaults the memory to four times the image, rounded up' {
        (Start-Enclave -ImagePath $image).MemoryMiB | Should -Be 21
    }

    It 'Start-Enclave refuses too little memory before calling nitro-cli' {
        { Start-Enclave -ImagePath $image -MemoryMiB 20 -ErrorAction Stop } | Should -Throw -ErrorId 'EnclaveMemoryTooSmall*'
    }

    It 'Get-Enclave reports the CID, state and flags' {
        Start-Enclave -ImagePath $image -Cid 20 -DebugMode -Name 'model' | Out-Null
        $enclave = Get-Enclave -Name 'model'
        $enclave.EnclaveCID | Should -Be 20
        $enclave.State | Should -Be 'RUNNING'
        $enclave.Flags | Should -Be 'DEBUG_MODE'
    }

    It 'Stop-Enclave takes enclaves from Get-Enclave; -Force terminates without a prompt' {
        Start-Enclave -ImagePath $image | Out-Null
        (Get-Enclave | Stop-Enclave -Force).Terminated | Should -BeTrue
        Get-Enclave | Should -BeNullOrEmpty
    }

    It 'Stop-Enclave asks first: ConfirmImpact High, so the default $ConfirmPreference prompts' {
        $metadata = [System.Management.Automation.CommandMetadata]::new((Get-Command Stop-Enclave))
        $metadata.ConfirmImpact | Should -Be 'High'
        $metadata.SupportsShouldProcess | Should -BeTrue
    }

    It 'Stop-Enclave -All -WhatIf terminates nothing, with or without -Force' {
        Start-Enclave -ImagePath $image | Out-Null
        Stop-Enclave -All -WhatIf
        Stop-Enclave -All -Force -WhatIf
        Get-Enclave | Should -HaveCount 1
    }

    It 'reports a nitro-cli failure with its exit code and stderr' {
        $env:FAKE_NITRO_CLI_FAIL = 'describe-enclaves'
        { Get-Enclave -ErrorAction Stop } | Should -Throw -ErrorId 'NitroCliFailed*' -ExpectedMessage '*exit code 1*E36*'
    }

    It 'reports a missing nitro-cli' {
        $before = $env:PATH
        try {
            $env:PATH = Join-Path $TestDrive 'no-such-dir'
            { Get-Enclave -ErrorAction Stop } | Should -Throw -ErrorId 'NitroCliNotFound*'
        }
        finally {
            $env:PATH = $before
        }
    }
}

Describe 'New-EnclaveImage progress' {
    BeforeEach {
        $env:FAKE_NITRO_CLI_STATE = Join-Path $TestDrive ([guid]::NewGuid())
        $env:FAKE_NITRO_CLI_GATE = Join-Path $TestDrive ([guid]::NewGuid())
    }

    AfterEach {
        Remove-Item Env:FAKE_NITRO_CLI_GATE -ErrorAction SilentlyContinue
    }

    It 'streams nitro-cli''s progress while the build runs, not after it' {
        # The test double waits for the gate file after its first progress line: the build only completes if that
        # line reached this pipeline while nitro-cli was still running.
        $gate = $env:FAKE_NITRO_CLI_GATE
        $records = New-EnclaveImage -DockerUri 'app:1' -OutputPath (Join-Path $TestDrive 'streamed.eif') -Verbose 4>&1 | ForEach-Object {
            if ($_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'Start building*') {
                New-Item -ItemType File -Path $gate | Out-Null
            }
            $_
        }
        $records.Where({ $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain 'Enclave Image successfully created.'
        $records.Where({ $_ -isnot [System.Management.Automation.VerboseRecord] }).PCR0 | Should -Match '^[0-9a-f]{96}$'
    }
}
