#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'KmsTestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
}

Describe 'Protect-EnclaveFile and Unprotect-EnclaveFile against the local KMS' {
    BeforeAll {
        $kms = Start-LocalKms -DataPath (Join-Path $TestDrive 'kms')
        $aws = @{ EndpointUrl = $kms.Endpoint; Credential = $kms.Credential; Region = $kms.Region }
        $keyArn = (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.Arn
        $adminArn = "arn:aws:iam::$($kms.AccountId):user/admin"
        $policy = @{
            Version   = '2012-10-17'
            Statement = @(
                @{ Sid = 'Admin'; Effect = 'Allow'; Principal = @{ AWS = $adminArn }; Action = 'kms:*'; Resource = '*' }
                @{ Sid = 'OnlyTheEnclaveDecrypts'; Effect = 'Deny'; Principal = @{ AWS = $adminArn }; Action = 'kms:Decrypt'; Resource = '*' }
            )
        } | ConvertTo-Json -Depth 5
        $deniedArn = (Invoke-TestKms -Kms $kms -Operation CreateKey -Body @{ Policy = $policy }).Body.KeyMetadata.Arn
    }

    AfterAll {
        if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
    }

    BeforeEach {
        $work = Join-Path $TestDrive ([guid]::NewGuid())
        New-Item -ItemType Directory -Path $work | Out-Null
        $photo = Join-Path $work 'photo.jpg'
        [System.IO.File]::WriteAllBytes($photo, [byte[]](1..250 + 1..250))
    }

    It 'round-trips a file with both suites and returns one object per file' -ForEach @(
        @{ NoSignature = $false; Suite = 0x0578 }
        @{ NoSignature = $true; Suite = 0x0478 }
    ) {
        $protected = Protect-EnclaveFile -Path $photo -KeyId $keyArn -NoSignature:$NoSignature -FrameSize 100 @aws
        $protected.Destination | Should -Be "$photo.enc"
        $protected.Suite.Id | Should -Be $Suite
        $protected.KeyArn | Should -Be $keyArn
        $protected.PlaintextBytes | Should -Be 500

        $restored = Unprotect-EnclaveFile -Path "$photo.enc" -Destination (Join-Path $work 'restored.jpg') @aws
        $restored.Format | Should -Be 'EncryptionSdkMessage'
        (Get-FileHash $restored.Destination).Hash | Should -Be (Get-FileHash $photo).Hash
    }

    It 'takes files from Get-ChildItem and writes them into a destination folder' {
        Copy-Item $photo (Join-Path $work 'second.jpg')
        $results = Get-ChildItem (Join-Path $work '*.jpg') | Protect-EnclaveFile -KeyId $keyArn -Destination (Join-Path $work 'out/') @aws
        $results | Should -HaveCount 2
        (Get-ChildItem (Join-Path $work 'out')).Name | Sort-Object | Should -Be @('photo.jpg.enc', 'second.jpg.enc')
    }

    It 'keeps an existing destination without -Force and replaces it with -Force' {
        Set-Content -Path "$photo.enc" -Value 'keep me'
        Protect-EnclaveFile -Path $photo -KeyId $keyArn @aws -ErrorVariable failures -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'DestinationExists*'
        Get-Content "$photo.enc" | Should -Be 'keep me'

        Protect-EnclaveFile -Path $photo -KeyId $keyArn -Force @aws | Should -Not -BeNullOrEmpty
        Get-Content "$photo.enc" -Raw | Should -Not -Be "keep me`n"
    }

    It 'writes nothing with -WhatIf' {
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -WhatIf @aws | Should -BeNullOrEmpty
        Test-Path "$photo.enc" | Should -BeFalse
    }

    It 'checks the encryption context on the way back' {
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -EncryptionContext @{ project = 'survey' } @aws | Out-Null
        Unprotect-EnclaveFile -Path "$photo.enc" -Destination (Join-Path $work 'ok.jpg') -ExpectedEncryptionContext @{ project = 'survey' } @aws |
            Select-Object -ExpandProperty EncryptionContext | ForEach-Object { $_['project'] } | Should -Be 'survey'
        { Unprotect-EnclaveFile -Path "$photo.enc" -Destination (Join-Path $work 'no.jpg') -ExpectedEncryptionContext @{ project = 'other' } @aws -ErrorAction Stop } |
            Should -Throw -ErrorId 'EnvelopeContextMismatch*'
        Test-Path (Join-Path $work 'no.jpg') | Should -BeFalse
    }

    It 'detects a tampered frame and leaves no output' {
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -FrameSize 100 @aws | Out-Null
        $bytes = [System.IO.File]::ReadAllBytes("$photo.enc")
        $bytes[$bytes.Length - 200] = $bytes[$bytes.Length - 200] -bxor 1
        [System.IO.File]::WriteAllBytes("$photo.enc", $bytes)
        { Unprotect-EnclaveFile -Path "$photo.enc" -Destination (Join-Path $work 'x.jpg') @aws -ErrorAction Stop } | Should -Throw -ErrorId 'EnvelopeFrameAuthFailed*'
        Get-ChildItem $work -Force | ForEach-Object Name | Sort-Object | Should -Be @('photo.jpg', 'photo.jpg.enc')
    }

    It 'fails with KmsAccessDenied and writes nothing when the key policy denies Decrypt' {
        Protect-EnclaveFile -Path $photo -KeyId $deniedArn @aws | Out-Null
        Remove-Item $photo
        { Unprotect-EnclaveFile -Path "$photo.enc" @aws -ErrorAction Stop } | Should -Throw -ErrorId 'KmsAccessDenied*'
        Test-Path $photo | Should -BeFalse
    }

    It 'uses $StoredAWSCredentials and $StoredAWSRegion as AWS.Tools sets them' {
        $StoredAWSCredentials = [pscustomobject]@{ AccessKey = $kms.AccessKey; SecretKey = $kms.Credential.GetCredentials().SecretKey }
        $StoredAWSRegion = $kms.Region
        (Protect-EnclaveFile -Path $photo -KeyId $keyArn -EndpointUrl $kms.Endpoint).KeyArn | Should -Be $keyArn
    }
}
