#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $root = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    $sim = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim') -EnclaveCount 2
    $images = Join-Path $TestDrive 'images'
    New-Item -ItemType Directory -Path $images | Out-Null
    $sample = Join-Path $root 'tests/data/detection/air-show.jpg'
    $files = foreach ($i in 1..12) {
        Copy-Item -LiteralPath $sample -Destination (Join-Path $images "air-show-$i.jpg")
        (Protect-EnclaveFile -LiteralPath (Join-Path $images "air-show-$i.jpg")).Destination
    }
}

AfterAll {
    Stop-EnclaveSimulation -ErrorAction SilentlyContinue
}

Describe 'A fleet of enclaves' {
    It 'Start-EnclaveSimulation -EnclaveCount 2 starts two servers and lists both' {
        $sim.EnclaveEndpoints | Should -HaveCount 2
        $sim.EnclaveProcessIds | Should -HaveCount 2
        (Get-Enclave).EnclaveName | Should -Be @('simulation', 'simulation-2')
        (Get-Enclave).Endpoint | Should -Be $sim.EnclaveEndpoints
    }

    It 'spreads 12 files over both enclaves, and each result names the endpoint that answered' {
        $results = $files | Invoke-EnclaveDetection -ThrottleLimit 4
        $results | Should -HaveCount 12
        $results.ForEach({ $_.Objects.Count }) | Should -Be (@(5) * 12)
        ($results.Endpoint | Sort-Object -Unique) | Should -Be ($sim.EnclaveEndpoints | Sort-Object)
    }

    It '-EnclaveName with a wildcard names the whole fleet' {
        $results = $files[0..3] | Invoke-EnclaveDetection -EnclaveName 'simulation*' -ThrottleLimit 2
        ($results.Endpoint | Sort-Object -Unique) | Should -Be ($sim.EnclaveEndpoints | Sort-Object)
    }

    It 'every endpoint down fails each file with EnclaveFleetUnavailable' {
        $results = $files[0..1] | Invoke-EnclaveDetection -Endpoint 'tcp://127.0.0.1:1', 'tcp://127.0.0.1:2' -TimeoutSec 5 -ErrorVariable problems -ErrorAction SilentlyContinue
        $results | Should -BeNullOrEmpty
        $problems | Should -HaveCount 2
        $problems.ForEach({ $_.FullyQualifiedErrorId }) | Should -BeLike 'EnclaveFleetUnavailable*'
        $problems[0].Exception.Message | Should -BeLike '*tcp://127.0.0.1:1:*'
        $problems[0].Exception.Message | Should -BeLike '*tcp://127.0.0.1:2:*'
    }

    # Last: it kills one of the fleet's servers.
    It 'losing an enclave in the middle of a run loses no file' {
        $victim = $sim.EnclaveProcessIds[1]
        $seen = 0
        $results = $files | Invoke-EnclaveDetection -ThrottleLimit 4 -ErrorVariable problems | ForEach-Object {
            $seen++
            if ($seen -eq 2) { Stop-Process -Id $victim -Force }
            $_
        }
        $problems | Should -BeNullOrEmpty
        $results | Should -HaveCount 12
        $results.ForEach({ $_.Objects.Count }) | Should -Be (@(5) * 12)
        Get-Process -Id $victim -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-Enclave -Name 'simulation-2').State | Should -Be 'EMPTY'
    }
}
