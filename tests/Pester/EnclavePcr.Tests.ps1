#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
}

Describe 'Get-EnclavePcr' {
    BeforeAll {
        $image = New-TestEif -Path (Join-Path $TestDrive 'app.eif')
        $other = New-TestEif -Path (Join-Path $TestDrive 'other.eif') -Seed 2
    }

    It 'computes PCR0, PCR1 and PCR2 as SHA-384 extends of the image sections' {
        $pcr = Get-EnclavePcr -Path $image.Path
        $pcr.PCR0 | Should -Be $image.PCR0
        $pcr.PCR1 | Should -Be $image.PCR1
        $pcr.PCR2 | Should -Be $image.PCR2
        $pcr.PCR8 | Should -BeNullOrEmpty
        $pcr.HashAlgorithm | Should -Be 'SHA384'
    }

    It 'takes file objects from Get-ChildItem' {
        $pcrs = Get-ChildItem -Path $TestDrive -Filter *.eif | Get-EnclavePcr
        $pcrs.PCR0 | Should -HaveCount 2
        $pcrs.PCR0 | Should -Contain $other.PCR0
    }

    It 'expands wildcards in -Path' {
        (Get-EnclavePcr -Path (Join-Path $TestDrive '*.eif')).PCR0 | Should -HaveCount 2
    }

    It 'turns piped nitro-cli build-enclave JSON into the same object' {
        $json = @"
{
  "Measurements": {
    "HashAlgorithm": "Sha384 { ... }",
    "PCR0": "$($image.PCR0)",
    "PCR1": "$($image.PCR1)",
    "PCR2": "$($image.PCR2)"
  }
}
"@
        ($json -split "`n" | Get-EnclavePcr).PCR0 | Should -Be $image.PCR0
    }

    It 'reports a file that is not an image with a stable error id and goes on' {
        $notEif = Join-Path $TestDrive 'notes.txt'
        Set-Content -Path $notEif -Value 'not an image'
        $result = Get-EnclavePcr -Path $notEif, $image.Path -ErrorVariable problems -ErrorAction SilentlyContinue
        $result.PCR0 | Should -Be $image.PCR0
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'EifNotAnImage*'
        $problems[0].TargetObject | Should -Be $notEif
    }

    It 'warns on a CRC mismatch, and fails under -Strict' {
        $bad = New-TestEif -Path (Join-Path $TestDrive 'bad.crc') -BadCrc
        (Get-EnclavePcr -Path $bad.Path -WarningAction SilentlyContinue).CrcValid | Should -BeFalse
        { Get-EnclavePcr -Path $bad.Path -Strict -ErrorAction Stop } | Should -Throw -ErrorId 'EifCrcMismatch*'
    }
}

Describe 'Get-EnclaveImage' {
    It 'describes the image like nitro-cli describe-eif' {
        $image = New-TestEif -Path (Join-Path $TestDrive 'describe.eif')
        $info = Get-EnclaveImage -LiteralPath $image.Path
        $info.EifVersion | Should -Be 4
        $info.Architecture | Should -Be 'x86_64'
        $info.IsSigned | Should -BeFalse
        $info.CheckCrc | Should -BeTrue
        $info.Sections | Should -HaveCount 4
        $info.Measurements.PCR0 | Should -Be $image.PCR0
    }
}
