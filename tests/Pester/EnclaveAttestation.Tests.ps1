#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $data = Join-Path (Split-Path $PSScriptRoot -Parent) 'data/attestation'
    $enclavePath = Join-Path $data 'enclave-2026-02-02.b64'
    $debugPath = Join-Path $data 'debug-enclave-2024-12-20.b64'
    $awsRoot = Join-Path $data 'aws-nitro-root-g1.pem'
    $enclaveTime = [DateTimeOffset]::new(2026, 2, 2, 20, 43, 47, 502, [TimeSpan]::Zero)
    $debugTime = [DateTimeOffset]::new(2024, 12, 20, 0, 13, 54, 557, [TimeSpan]::Zero)
}

Describe 'Test-EnclaveAttestation' {
    It 'accepts a real document at its own timestamp' {
        (Test-EnclaveAttestation -Path $enclavePath -At $enclaveTime).IsValid | Should -BeTrue
        (Test-EnclaveAttestation -Path $debugPath -At $debugTime -TrustedRoot $awsRoot).IsValid | Should -BeTrue
    }

    It 'rejects a real document today because its leaf certificate expired' {
        $result = Test-EnclaveAttestation -Path $enclavePath
        $result.IsValid | Should -BeFalse
        $result.Failures.Rule | Should -Contain 'CertificateExpired'
    }

    It 'takes base64 text, bytes and objects with a Document property' {
        $text = Get-Content -Path $enclavePath -Raw
        $bytes = [Convert]::FromBase64String($text.Trim())
        (Test-EnclaveAttestation $text -At $enclaveTime).IsValid | Should -BeTrue
        (Test-EnclaveAttestation -Document $bytes -At $enclaveTime).IsValid | Should -BeTrue
        ([pscustomobject]@{ Document = $bytes } | Test-EnclaveAttestation -At $enclaveTime).IsValid | Should -BeTrue
    }

    It 'compares expected PCRs given as a hashtable or a measurements object' {
        $pcr0 = (ConvertFrom-EnclaveAttestation -Path $enclavePath).PcrHex[0]
        (Test-EnclaveAttestation -Path $enclavePath -At $enclaveTime -ExpectedPcr @{ 0 = $pcr0.ToUpper() }).IsValid | Should -BeTrue
        $wrong = [pscustomobject]@{ PCR0 = 'ab' * 48 }
        $result = Test-EnclaveAttestation -Path $enclavePath -At $enclaveTime -ExpectedPcr $wrong
        $result.IsValid | Should -BeFalse
        $result.Failures.Rule | Should -Be 'PcrMismatch'
    }

    It 'checks the nonce and the age' {
        $nonce = (ConvertFrom-EnclaveAttestation -Path $enclavePath).Nonce
        (Test-EnclaveAttestation -Path $enclavePath -At $enclaveTime -Nonce $nonce).IsValid | Should -BeTrue
        (Test-EnclaveAttestation -Path $enclavePath -At $enclaveTime -Nonce 'abcd').Failures.Rule | Should -Be 'NonceMismatch'
        (Test-EnclaveAttestation -Path $enclavePath -At $enclaveTime.AddHours(1) -MaxAge ([TimeSpan]::FromMinutes(5))).Failures.Rule | Should -Contain 'DocumentTooOld'
    }

    It 'reports a damaged document with a stable error id' {
        $bad = Join-Path $TestDrive 'bad.bin'
        [System.IO.File]::WriteAllBytes($bad, [byte[]](0x84, 0x01))
        { Test-EnclaveAttestation -Path $bad -ErrorAction Stop } | Should -Throw -ErrorId 'AttestationMalformed*'
    }

    It 'fails setup with an unreadable trusted root' {
        $notPem = Join-Path $TestDrive 'root.txt'
        Set-Content -Path $notPem -Value 'not a certificate'
        { Test-EnclaveAttestation -Path $enclavePath -TrustedRoot $notPem } | Should -Throw -ErrorId 'AttestationTrustedRootInvalid*'
    }
}

Describe 'ConvertFrom-EnclaveAttestation' {
    It 'shows the fields of a debug-mode document' {
        $document = ConvertFrom-EnclaveAttestation -Path $debugPath
        $document.ModuleId | Should -Be 'i-0bbf1bfe232b8c2ce-enc0193db54d723113f'
        $document.IsDebugMode | Should -BeTrue
        $document.PcrHex[0] | Should -Be ('0' * 96)
        $document.Pcrs.Count | Should -Be 16
        $document.IsIndefiniteLengthMap | Should -BeFalse
        $document.CaBundle | Should -HaveCount 4
    }

    It 'reads indefinite-length payload maps' {
        (ConvertFrom-EnclaveAttestation -Path $enclavePath).IsIndefiniteLengthMap | Should -BeTrue
    }
}
