#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force

    # Synthetic nitro-cli blobs and a small server folder: the real blobs are not on test machines.
    function New-TestImageInputs([string] $Root) {
        $blobs = New-Item -ItemType Directory -Path (Join-Path $Root 'blobs') -Force
        $server = New-Item -ItemType Directory -Path (Join-Path $Root 'server/models') -Force
        [IO.File]::WriteAllBytes((Join-Path $blobs 'bzImage'), [byte[]](1..200 | ForEach-Object { $_ % 251 }))
        Set-Content -Path (Join-Path $blobs 'bzImage.config') -Value '#', '# Automatically generated file; DO NOT EDIT.', '# Linux/x86_64 6.1.102 Kernel Configuration'
        Set-Content -Path (Join-Path $blobs 'cmdline') -Value 'reboot=k panic=30 pci=off nomodules console=ttyS0'
        [IO.File]::WriteAllBytes((Join-Path $blobs 'init'), [byte[]](1..100))
        [IO.File]::WriteAllBytes((Join-Path $blobs 'nsm.ko'), [byte[]](1..50))
        [IO.File]::WriteAllBytes((Join-Path $server '../EnclaveHost'), [byte[]](1..80))
        [IO.File]::WriteAllBytes((Join-Path $server 'detector.onnx'), [byte[]](1..120))
        [pscustomobject]@{ Blobs = $blobs.FullName; Server = (Split-Path $server.FullName -Parent) }
    }

    # PCR = SHA384(48 zero bytes || SHA384(data)), without the module.
    function Get-Extend([byte[]] $Data) {
        $sha = [Security.Cryptography.SHA384]::Create()
        $inner = $sha.ComputeHash($Data)
        ($sha.ComputeHash([byte[]]((, 0) * 48 + $inner)) | ForEach-Object { $_.ToString('x2') }) -join ''
    }
}

Describe 'New-EnclaveImage -Reproducible' {
    BeforeAll {
        $inputs = New-TestImageInputs -Root $TestDrive
        $env:SOURCE_DATE_EPOCH = '1700000000'
        $first = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'first.eif')
        $second = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'second.eif')
    }

    AfterAll {
        Remove-Item Env:SOURCE_DATE_EPOCH -ErrorAction SilentlyContinue
    }

    It 'builds without Docker or nitro-cli and returns what Get-EnclavePcr returns' {
        $first.PSObject.TypeNames | Should -Contain 'NitroEnclave.Eif.EnclaveMeasurements'
        $pcr = Get-EnclavePcr -Path (Join-Path $TestDrive 'first.eif')
        $first.PCR0 | Should -Be $pcr.PCR0
        $first.PCR1 | Should -Be $pcr.PCR1
        $first.PCR2 | Should -Be $pcr.PCR2
        $first.PCR8 | Should -BeNullOrEmpty
    }

    It 'gives byte-identical images for the same inputs' {
        (Get-FileHash (Join-Path $TestDrive 'first.eif')).Hash | Should -Be (Get-FileHash (Join-Path $TestDrive 'second.eif')).Hash
    }

    It 'measures the kernel and command line into PCR1 as an independent computation does' {
        $kernel = [IO.File]::ReadAllBytes((Join-Path $inputs.Blobs 'bzImage'))
        $image = [IO.File]::ReadAllBytes((Join-Path $TestDrive 'first.eif'))
        $cmdline = [Text.Encoding]::ASCII.GetBytes('reboot=k panic=30 pci=off nomodules console=ttyS0')
        $sections = Get-EnclaveImage -Path (Join-Path $TestDrive 'first.eif') | Select-Object -ExpandProperty Sections
        $bootstrap = $sections | Where-Object Type -EQ Ramdisk | Select-Object -First 1
        $ramdisk = $image[($bootstrap.Offset + 12)..($bootstrap.Offset + 11 + $bootstrap.Size)]
        $first.PCR1 | Should -Be (Get-Extend ([byte[]]($kernel + $cmdline + $ramdisk)))
    }

    It 'takes the build time from SOURCE_DATE_EPOCH' {
        (Get-EnclaveImage -Path (Join-Path $TestDrive 'first.eif')).BuildMetadata.BuildTime | Should -Be '2023-11-14T22:13:20+00:00'
    }

    It 'changes PCR2, not PCR1, when a model byte changes' {
        $changed = Join-Path $TestDrive 'changed'
        Copy-Item -Path $inputs.Server -Destination $changed -Recurse
        $model = Join-Path $changed 'models/detector.onnx'
        $bytes = [IO.File]::ReadAllBytes($model); $bytes[5] = 0xFF; [IO.File]::WriteAllBytes($model, $bytes)
        $other = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $changed -OutputPath (Join-Path $TestDrive 'changed.eif')
        $other.PCR1 | Should -Be $first.PCR1
        $other.PCR2 | Should -Not -Be $first.PCR2
    }

    It 'signs the image with -SigningCertificate and -SigningKey, setting PCR8' {
        $key = [Security.Cryptography.ECDsa]::Create([Security.Cryptography.ECCurve+NamedCurves]::nistP384)
        $request = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=operator', $key, 'SHA384')
        $certificate = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(30))
        Set-Content -Path (Join-Path $TestDrive 'signer.pem') -Value $certificate.ExportCertificatePem()
        Set-Content -Path (Join-Path $TestDrive 'signer.key') -Value $key.ExportECPrivateKeyPem()
        $signed = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'signed.eif') `
            -SigningCertificate (Join-Path $TestDrive 'signer.pem') -SigningKey (Join-Path $TestDrive 'signer.key')
        $signed.PCR8 | Should -Be (Get-Extend $certificate.RawData)
        $signed.PCR0 | Should -Be $first.PCR0
    }

    It 'names a missing blob with EnclaveImageBlobMissing' {
        $empty = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'noblobs')
        { New-EnclaveImage -Reproducible -BlobPath $empty -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'x.eif') -ErrorAction Stop } |
            Should -Throw -ErrorId 'EnclaveImageBlobMissing*'
    }

    It 'writes nothing under -WhatIf' {
        New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'whatif.eif') -WhatIf
        Join-Path $TestDrive 'whatif.eif' | Should -Not -Exist
    }

    It 'keeps the Docker parameter set as it was' {
        (Get-Command New-EnclaveImage).DefaultParameterSet | Should -Be 'Docker'
        (Get-Command New-EnclaveImage).Parameters['DockerUri'].ParameterSets.Keys | Should -Be 'Docker'
    }
}

Describe 'Test-EnclaveImage' {
    BeforeAll {
        $inputs = New-TestImageInputs -Root $TestDrive
        $image = Join-Path $TestDrive 'rebuilt.eif'
        $deployed = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath $image
    }

    It 'says a rebuilt image matches the deployed measurements' {
        $result = Test-EnclaveImage -Path $image -Expected $deployed
        $result.Matches | Should -BeTrue
        $result.Measurements.Measurement | Should -Be 'PCR0', 'PCR1', 'PCR2'
    }

    It 'takes the expected measurements from the pipeline and from a hashtable' {
        ($deployed | Test-EnclaveImage -Path $image).Matches | Should -BeTrue
        (Test-EnclaveImage $image @{ PCR2 = $deployed.PCR2.ToUpperInvariant() }).Matches | Should -BeTrue
    }

    It 'reports each mismatch, as a result and a warning' {
        $wrong = 'ab' * 48
        $result = Test-EnclaveImage -Path $image -Expected @{ PCR0 = $deployed.PCR0; PCR1 = $wrong; PCR2 = $wrong; PCR8 = $wrong } -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Matches | Should -BeFalse
        $result.Mismatches.Measurement | Should -Be 'PCR1', 'PCR2', 'PCR8'
        $warnings | Should -HaveCount 3
        $warnings[0] | Should -BeLike "PCR1: expected $wrong*"
    }

    It 'shows each measurement, and a mismatch''s two values whole, at 120 columns' {
        $wrong = 'ab' * 48
        $text = Test-EnclaveImage -Path $image -Expected @{ PCR0 = $deployed.PCR0; PCR2 = $wrong } -WarningAction SilentlyContinue | Out-String -Width 120
        $text | Should -Match 'PCR0 matches'
        $lines = $text -split '\r?\n' | ForEach-Object Trim
        $at = [array]::IndexOf($lines, 'PCR2 DIFFERS, expected then actual:')
        $at | Should -BeGreaterThan 0
        $lines[$at + 1] | Should -Be $wrong
        $lines[$at + 2] | Should -Be $deployed.PCR2
    }

    It 'refuses an expected value that is not a SHA-384 with EnclaveImageExpectedInvalid' {
        { Test-EnclaveImage -Path $image -Expected @{ PCR0 = 'abc' } -ErrorAction Stop } | Should -Throw -ErrorId 'EnclaveImageExpectedInvalid*'
        { Test-EnclaveImage -Path $image -Expected @{ PCR3 = $deployed.PCR0 } -ErrorAction Stop } | Should -Throw -ErrorId 'EnclaveImageExpectedInvalid*'
    }
}
