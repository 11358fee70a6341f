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

Describe 'Set-KmsEnclavePolicy''s lockout check with the real caller (STS GetCallerIdentity on the local KMS port)' {
    BeforeAll {
        $kms = Start-LocalKms -Port 0 -DataPath (Join-Path $TestDrive 'kms-caller')
        $account = $kms.AccountId
        $adminArn = "arn:aws:iam::${account}:user/admin"
        $aliceArn = "arn:aws:iam::${account}:user/alice"
        $keyAdminArn = "arn:aws:iam::${account}:role/admins/KeyAdmin"
        $parentArn = "arn:aws:iam::${account}:role/Parent"
        $alice = $kms | Add-LocalKmsPrincipal -Arn $aliceArn
        $null = $kms | Add-LocalKmsRole -Arn $keyAdminArn -TrustedPrincipal $adminArn
        $pcr0 = 'a' * 96

        # The key policy as given, written by the local administrator past KMS's own lockout check.
        function New-TestKey([object[]] $Statement) {
            $keyId = (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.KeyId
            $policy = @{ Version = '2012-10-17'; Statement = $Statement } | ConvertTo-Json -Depth 6
            (Invoke-TestKms -Kms $kms -Operation PutKeyPolicy -Body @{ KeyId = $keyId; PolicyName = 'default'; Policy = $policy; BypassPolicyLockoutSafetyCheck = $true }).StatusCode | Should -Be 200
            $keyId
        }

        function Get-TestPolicy([string] $KeyId) {
            (Invoke-TestKms -Kms $kms -Operation GetKeyPolicy -Body @{ KeyId = $KeyId; PolicyName = 'default' }).Body.Policy
        }

        function Grant([string] $Sid, [string] $Principal, [string] $Action = 'kms:*') {
            @{ Sid = $Sid; Effect = 'Allow'; Principal = @{ AWS = $Principal }; Action = $Action; Resource = '*' }
        }

        $assumed = Invoke-TestSts -Kms $kms -Action AssumeRole -Parameters @{ RoleArn = $keyAdminArn; RoleSessionName = 'pester' }
        $assumed.StatusCode | Should -Be 200
        $session = $assumed.Body.AssumeRoleResponse.AssumeRoleResult.Credentials
        $sessionArn = $assumed.Body.AssumeRoleResponse.AssumeRoleResult.AssumedRoleUser.Arn
        $asSession = @{ EndpointUrl = $kms.Endpoint.ToString(); Region = $kms.Region; AccessKey = $session.AccessKeyId; SecretKey = $session.SecretAccessKey; SessionToken = $session.SessionToken }
        $asAlice = @{ EndpointUrl = $kms.Endpoint.ToString(); Region = $kms.Region; Credential = $alice.Credential }
    }

    AfterAll {
        if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
    }

    It 'the local STS names the assumed role as AWS does' {
        $sessionArn | Should -Be "arn:aws:sts::${account}:assumed-role/KeyAdmin/pester"
        $session.AccessKeyId | Should -Match '^ASIA'
    }

    It 'refuses a change that takes kms:PutKeyPolicy from the caller, naming the caller ARN, and writes nothing' {
        # Alice's only administration grant was folded into the module's statement by hand: -Remove takes it away.
        $keyId = New-TestKey @((Grant 'Admin' $adminArn), (Grant 'NitroEnclaveAllowAttestedDecrypt' $aliceArn))
        $before = Get-TestPolicy $keyId

        { Set-KmsEnclavePolicy -KeyId $keyId -Remove @asAlice -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeyPolicyLockout*' -ExpectedMessage "*away from you, the caller $aliceArn (as STS GetCallerIdentity names you)*"
        Get-TestPolicy $keyId | Should -Be $before
    }

    It 'passes a change that keeps the caller''s kms:PutKeyPolicy, and says which caller it checked' {
        $keyId = New-TestKey @((Grant 'Admin' $adminArn), (Grant 'Alice' $aliceArn))

        $policy = Set-KmsEnclavePolicy -KeyId $keyId -Pcr0 $pcr0 -Principal $parentArn @asAlice -Confirm:$false -PassThru -Verbose 4>&1 |
            Tee-Object -Variable said | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }

        $policy.HasEnclaveStatements | Should -BeTrue
        ($said | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain "The lockout safety check evaluates the new policy of key '$($policy.KeyArn)' for the caller $aliceArn."
    }

    It 'an assumed-role caller keeps kms:PutKeyPolicy through a statement naming its role (with its path)' {
        $keyId = New-TestKey @((Grant 'Admin' $adminArn), (Grant 'KeyAdmins' $keyAdminArn))

        $policy = Set-KmsEnclavePolicy -KeyId $keyId -Pcr0 $pcr0 -Principal $parentArn @asSession -Confirm:$false -PassThru

        $policy.HasEnclaveStatements | Should -BeTrue
        Get-TestPolicy $keyId | Should -Be $policy.Policy
    }

    It 'an assumed-role caller whose role grant goes away is refused, named by its session ARN' {
        $keyId = New-TestKey @((Grant 'Admin' $adminArn), (Grant 'NitroEnclaveAllowAttestedDecrypt' $keyAdminArn))
        $before = Get-TestPolicy $keyId

        { Set-KmsEnclavePolicy -KeyId $keyId -Remove @asSession -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeyPolicyLockout*' -ExpectedMessage "*away from you, the caller $sessionArn (as STS GetCallerIdentity names you)*"
        Get-TestPolicy $keyId | Should -Be $before

        Set-KmsEnclavePolicy -KeyId $keyId -Remove @asSession -BypassPolicyLockoutSafetyCheck -Confirm:$false -WarningAction SilentlyContinue
        Get-TestPolicy $keyId | Should -Not -Match 'NitroEnclaveAllowAttestedDecrypt'
    }

    It 'says precisely that GetCallerIdentity failed, and writes nothing, when STS cannot answer' {
        $keyId = New-TestKey @((Grant 'Admin' $adminArn), (Grant 'Alice' $aliceArn))
        $before = Get-TestPolicy $keyId
        # KMS at the local endpoint through the SDK's service-specific setting; STS at a port nothing listens on.
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        $closedPort = $listener.LocalEndpoint.Port
        $listener.Stop()
        $env:AWS_ENDPOINT_URL_KMS = $kms.Endpoint.ToString()
        $env:AWS_ENDPOINT_URL_STS = "http://127.0.0.1:$closedPort"
        try {
            { Set-KmsEnclavePolicy -KeyId $keyId -Pcr0 $pcr0 -Region $kms.Region -Credential $alice.Credential -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'AwsCallerIdentityUnavailable*' -ExpectedMessage '*STS GetCallerIdentity*failed: STS could not be reached*nothing was written*'
        }
        finally {
            Remove-Item Env:AWS_ENDPOINT_URL_KMS, Env:AWS_ENDPOINT_URL_STS
        }
        Get-TestPolicy $keyId | Should -Be $before
    }
}
