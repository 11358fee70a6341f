#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
}

Describe 'Start-EnclaveSimulation' {
    AfterEach {
        Stop-EnclaveSimulation -ErrorAction SilentlyContinue
    }

    It 'starts the local KMS and the enclave server and reports the simulated PCRs' {
        $sim = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
        $sim.EnclaveEndpoint | Should -BeLike 'tcp://127.0.0.1:*'
        $sim.KmsEndpoint | Should -BeLike 'http://127.0.0.1:*'
        $sim.KeyAlias | Should -Be 'alias/nitroenclave-simulation'
        (Get-EnclavePcr -Simulation).PCR0 | Should -Be $sim.Pcrs.PCR0
    }

    It 'points Get-EnclaveAttestation and Test-EnclaveAttestation at the simulation' {
        $null = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
        (Get-EnclaveAttestation | Test-EnclaveAttestation -ExpectedPcr (Get-EnclavePcr -Simulation)).IsValid | Should -BeTrue
    }

    It 'reads all PCRs as zero in debug mode' {
        $null = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'debug') -DebugMode
        (Get-EnclavePcr -Simulation).PCR0 | Should -Be ('0' * 96)
    }

    It 'refuses a second simulation in the same session' {
        $null = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
        { Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim') -ErrorAction Stop } | Should -Throw -ErrorId 'SimulationAlreadyRunning*'
    }
}

Describe 'Stop-EnclaveSimulation' {
    It 'stops both servers and clears the session defaults' {
        $sim = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
        Stop-EnclaveSimulation
        $PSDefaultParameterValues.Keys | Should -Not -Contain 'Invoke-EnclaveDetection:Endpoint'
        Get-Process -Id $sim.EnclaveProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'Invoke-EnclaveDetection' {
    BeforeAll {
        $null = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
    }

    AfterAll {
        Stop-EnclaveSimulation
    }

    It 'reports a file that is not encrypted as DecryptFailed and goes on' {
        $garbage = Join-Path $TestDrive 'garbage.enc'
        Set-Content -Path $garbage -Value ('x' * 300)
        Invoke-EnclaveDetection -Path $garbage -ErrorVariable problems -ErrorAction SilentlyContinue
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'EnclaveDecryptFailed*'
    }
}
