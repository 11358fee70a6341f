#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $server = Start-TestEnclaveServer -StateDirectory $TestDrive
}

AfterAll {
    if ($server) { $server.Process.Kill(); $server.Process.WaitForExit() }
}

Describe 'Get-EnclaveAttestation' {
    It 'returns a document bound to a fresh nonce' {
        $first = Get-EnclaveAttestation -Endpoint $server.Endpoint
        $second = Get-EnclaveAttestation -Endpoint $server.Endpoint
        $first.Nonce | Should -HaveCount 32
        [System.Convert]::ToHexString($first.Nonce) | Should -Not -Be ([System.Convert]::ToHexString($second.Nonce))
        $first.Endpoint | Should -Be $server.Endpoint
    }

    It 'passes Test-EnclaveAttestation with the simulation root and its PCR0' {
        (Get-EnclaveAttestation -Endpoint $server.Endpoint |
            Test-EnclaveAttestation -TrustedRoot $server.RootPath -ExpectedPcr @{ 0 = $server.PCR0 }).IsValid | Should -BeTrue
    }

    It 'fails Test-EnclaveAttestation against the AWS root' {
        (Get-EnclaveAttestation -Endpoint $server.Endpoint | Test-EnclaveAttestation).IsValid | Should -BeFalse
    }

    It 'binds user data and never a public key' {
        $userData = [System.Text.Encoding]::UTF8.GetBytes('audit-2026-12')
        $document = Get-EnclaveAttestation -Endpoint $server.Endpoint -UserData $userData | ConvertFrom-EnclaveAttestation
        [System.Text.Encoding]::UTF8.GetString($document.UserData) | Should -Be 'audit-2026-12'
        $document.PublicKey | Should -BeNullOrEmpty
    }

    It 'offers no parameter that would put a caller''s key into the document' {
        (Get-Command Get-EnclaveAttestation).Parameters.Keys | Should -Not -Contain 'PublicKey'
        { Get-EnclaveAttestation -Endpoint $server.Endpoint -PublicKey ([byte[]](1..32)) -ErrorAction Stop } |
            Should -Throw -ErrorId 'NamedParameterNotFound*'
    }

    It 'refuses -Endpoint together with -Cid' {
        { Get-EnclaveAttestation -Endpoint $server.Endpoint -Cid 16 -ErrorAction Stop } | Should -Throw -ErrorId 'EndpointConflict*'
    }
}
