#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'KmsTestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
}

Describe 'Set-KmsEnclavePolicy and Get-KmsEnclavePolicy against the local KMS' {
    BeforeAll {
        $kms = Start-LocalKms -Port 0 -DataPath (Join-Path $TestDrive 'kms')
        $parentArn = 'arn:aws:iam::111122223333:role/Parent'
        $parent = $kms | Add-LocalKmsPrincipal -Arn $parentArn
        $aws = @{ EndpointUrl = $kms.Endpoint.ToString(); Credential = $kms.Credential; Region = $kms.Region }
        $image = New-TestEif -Path (Join-Path $TestDrive 'app.eif')
        $pcrs = Get-EnclavePcr -Path $image.Path

        function New-TestKey {
            (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.KeyId
        }

        function Get-TestPolicy([string] $KeyId) {
            (Invoke-TestKms -Kms $kms -Operation GetKeyPolicy -Body @{ KeyId = $KeyId; PolicyName = 'default' }).Body.Policy
        }
    }

    AfterAll {
        if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
    }

    It 'takes the measurements from Get-EnclavePcr and denies the parent a plain Decrypt afterwards' {
        $keyId = New-TestKey
        $blob = (Invoke-TestKms -Kms $kms -Operation Encrypt -Body @{ KeyId = $keyId; Plaintext = 'c2VjcmV0' } -Credential $parent.Credential).Body.CiphertextBlob
        (Invoke-TestKms -Kms $kms -Operation Decrypt -Body @{ CiphertextBlob = $blob } -Credential $parent.Credential).StatusCode | Should -Be 200

        $policy = $pcrs | Set-KmsEnclavePolicy -KeyId $keyId -Principal $parentArn @aws -Confirm:$false -PassThru

        $policy.HasEnclaveStatements | Should -BeTrue
        $policy.Policy | Should -Be (Get-TestPolicy $keyId)
        ($policy.Conditions | Where-Object { $_.Effect -eq 'Allow' -and $_.ConditionKey -eq 'kms:RecipientAttestation:PCR0' }).Values | Should -Be @($pcrs.PCR0)
        $denied = Invoke-TestKms -Kms $kms -Operation Decrypt -Body @{ CiphertextBlob = $blob } -Credential $parent.Credential
        $denied.StatusCode | Should -Be 400
        $denied.Body.__type | Should -Be 'AccessDeniedException'
    }

    It 'writes nothing under -WhatIf' {
        $keyId = New-TestKey
        $before = Get-TestPolicy $keyId

        Set-KmsEnclavePolicy -KeyId $keyId -Pcr0 $pcrs.PCR0 -Principal $parentArn @aws -WhatIf -PassThru | Should -BeNullOrEmpty

        Get-TestPolicy $keyId | Should -Be $before
    }

    It 'changes nothing the second time and says so' {
        $keyId = New-TestKey
        $pcrs | Set-KmsEnclavePolicy -KeyId $keyId -Principal $parentArn @aws -Confirm:$false
        $first = Get-TestPolicy $keyId

        $said = $pcrs | Set-KmsEnclavePolicy -KeyId $keyId @aws -Confirm:$false 6>&1

        Get-TestPolicy $keyId | Should -Be $first
        "$said" | Should -Match 'already holds these enclave statements; nothing to change'
    }

    It 'takes the statements out again with -Remove, leaving the original policy' {
        $keyId = New-TestKey
        $before = Get-TestPolicy $keyId
        Set-KmsEnclavePolicy -KeyId $keyId -Pcr0 $pcrs.PCR0 -Principal $parentArn @aws -Confirm:$false

        Set-KmsEnclavePolicy -KeyId $keyId -Remove @aws -Confirm:$false

        Get-TestPolicy $keyId | Should -Be $before
        (Get-KmsEnclavePolicy -KeyId $keyId @aws).HasEnclaveStatements | Should -BeFalse
    }

    It 'refuses a policy that locks the administrator out unless -BypassPolicyLockoutSafetyCheck; -Force alone does not bypass it' {
        $keyId = New-TestKey
        $adminArn = 'arn:aws:iam::111122223333:user/admin'
        $locked = @{ Version = '2012-10-17'; Statement = @(
                @{ Sid = 'NitroEnclaveAllowAttestedDecrypt'; Effect = 'Allow'; Principal = @{ AWS = $adminArn }; Action = 'kms:*'; Resource = '*' }
                @{ Sid = 'Use'; Effect = 'Allow'; Principal = @{ AWS = $parentArn }; Action = 'kms:Encrypt'; Resource = '*' }
            ) } | ConvertTo-Json -Depth 5
        (Invoke-TestKms -Kms $kms -Operation PutKeyPolicy -Body @{ KeyId = $keyId; PolicyName = 'default'; Policy = $locked }).StatusCode | Should -Be 200

        { Set-KmsEnclavePolicy -KeyId $keyId -Remove @aws -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'KeyPolicyLockout*'
        Get-TestPolicy $keyId | Should -Be $locked

        { Set-KmsEnclavePolicy -KeyId $keyId -Remove -Force @aws -ErrorAction Stop } | Should -Throw -ErrorId 'KeyPolicyLockout*'
        Get-TestPolicy $keyId | Should -Be $locked

        Set-KmsEnclavePolicy -KeyId $keyId -Remove -BypassPolicyLockoutSafetyCheck @aws -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue
        $warned | Should -Match 'because of -BypassPolicyLockoutSafetyCheck'
        { Get-KmsEnclavePolicy -KeyId $keyId @aws -ErrorAction Stop } | Should -Throw -ErrorId 'KmsAccessDenied*'
    }

    It 'refuses <Case> with <ErrorId>' -ForEach @(
        @{ Case = 'a short PCR'; Arguments = @{ Pcr0 = 'abc' }; ErrorId = 'EnclaveMeasurementInvalid' }
        @{ Case = 'an all-zero PCR'; Arguments = @{ Pcr0 = '0' * 96 }; ErrorId = 'EnclaveMeasurementAllZero' }
        @{ Case = 'no measurement'; Arguments = @{ Principal = 'arn:aws:iam::111122223333:role/Parent' }; ErrorId = 'EnclaveMeasurementMissing' }
        @{ Case = 'an ImageSha384 unlike PCR0'; Arguments = @{ Pcr0 = 'a' * 96; ImageSha384 = 'b' * 96 }; ErrorId = 'EnclaveImageSha384Mismatch' }
        @{ Case = 'a principal that is not an ARN'; Arguments = @{ Pcr0 = 'a' * 96; Principal = 'role/Parent' }; ErrorId = 'KeyPolicyPrincipalInvalid' }
    ) {
        $keyId = New-TestKey
        { Set-KmsEnclavePolicy -KeyId $keyId @Arguments @aws -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId*"
    }

    It 'reports a missing key as KmsKeyNotFound' {
        { Get-KmsEnclavePolicy -KeyId ([guid]::NewGuid().ToString()) @aws -ErrorAction Stop } | Should -Throw -ErrorId 'KmsKeyNotFound*'
    }
}
