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

Describe 'The simulated enclave in the enclave cmdlets' {
    BeforeAll {
        $sim = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
    }

    AfterAll {
        Stop-EnclaveSimulation -ErrorAction SilentlyContinue
    }

    It 'Get-Enclave lists the simulated enclave, with its endpoint and PCRs, without nitro-cli' {
        $enclave = Get-Enclave -Name 'simulation'
        $enclave.State | Should -Be 'RUNNING'
        $enclave.IsSimulated | Should -BeTrue
        $enclave.Endpoint | Should -Be $sim.EnclaveEndpoint
        $enclave.ProcessID | Should -Be $sim.EnclaveProcessId
        $enclave.Measurements.PCR0 | Should -Be $sim.Pcrs.PCR0
        $enclave.EnclaveID | Should -BeLike 'i-simulation-enc*'
    }

    It 'Stop-Enclave refuses the simulated enclave and names Stop-EnclaveSimulation' {
        { Get-Enclave -Name 'simulation' | Stop-Enclave -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'EnclaveIsSimulated*' -ExpectedMessage '*Stop-EnclaveSimulation*'
        Get-Process -Id $sim.EnclaveProcessId | Should -Not -BeNullOrEmpty
    }

    It '-EnclaveName simulation reaches it, and yields over the session default -Endpoint' {
        $attestation = Get-EnclaveAttestation -EnclaveName 'simulation'
        ($attestation | Test-EnclaveAttestation -ExpectedPcr $sim.Pcrs).IsValid | Should -BeTrue
    }

    It 'an explicit -Endpoint with -EnclaveName is still a conflict' {
        { Get-EnclaveAttestation -Endpoint 'tcp://127.0.0.1:9' -EnclaveName 'simulation' -ErrorAction Stop } | Should -Throw -ErrorId 'EndpointConflict*'
    }
}

Describe 'Reloading the module while a simulation runs' {
    It 'Import-Module -Force warns that it stops the simulation, then stops it' {
        $module = Get-TestModulePath
        $dataPath = Join-Path $TestDrive 'reload'
        $script = "Import-Module '$module'; `$sim = Start-EnclaveSimulation -DataPath '$dataPath'; " +
            "Import-Module '$module' -Force; 'enclave process ' + `$sim.EnclaveProcessId"
        $output = & (Get-TestPwsh) -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        $output | Should -Match 'WARNING: Removing the NitroEnclave module stops the enclave simulation'
        $enclaveProcess = [int]([regex]::Match($output, 'enclave process (\d+)').Groups[1].Value)
        $enclaveProcess | Should -BeGreaterThan 0
        Get-Process -Id $enclaveProcess -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}
