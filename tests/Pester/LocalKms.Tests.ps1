#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'KmsTestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
}

Describe 'Start-LocalKms and Stop-LocalKms' {
    BeforeAll {
        $dataPath = Join-Path $TestDrive 'kms'
        $kms = Start-LocalKms -Port 0 -DataPath $dataPath
    }

    AfterAll {
        if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
    }

    It 'returns the endpoint, process id and administrator credentials once the server is ready' {
        $kms.Endpoint.Host | Should -Be '127.0.0.1'
        $kms.Endpoint.Port | Should -BeGreaterThan 0
        $kms.ProcessId | Should -BeGreaterThan 0
        $kms.AccessKey | Should -Match '^AKIA[A-Z2-7]{16}$'
        $kms.Credential.GetCredentials().SecretKey.Length | Should -Be 40
        $kms.Region | Should -Be 'us-east-1'
        Get-Process -Id $kms.ProcessId | Should -Not -BeNullOrEmpty
    }

    It 'answers the KMS JSON protocol and rejects unsigned requests as KMS does' {
        $response = Invoke-WebRequest -Uri $kms.Endpoint -Method Post -Body '{}' -SkipHttpErrorCheck `
            -ContentType 'application/x-amz-json-1.1' -Headers @{ 'X-Amz-Target' = 'TrentService.ListKeys' }
        $response.StatusCode | Should -Be 400
        (ConvertFrom-KmsContent $response).__type | Should -Be 'MissingAuthenticationTokenException'
    }

    It 'keeps the administrator in the data path, usable as a shared credentials file' {
        $credentials = Get-Content -Path (Join-Path $dataPath 'admin.credentials') -Raw
        $credentials | Should -Match ([regex]::Escape($kms.AccessKey))
    }

    It 'adds principals with their own keys' {
        $parent = $kms | Add-LocalKmsPrincipal -Arn 'arn:aws:iam::111122223333:role/ParentInstance'
        $parent.Arn | Should -Be 'arn:aws:iam::111122223333:role/ParentInstance'
        $parent.AccessKey | Should -Not -Be $kms.AccessKey
        $parent.Credential.GetCredentials().SecretKey.Length | Should -Be 40
    }

    It 'rejects a principal that is not an IAM user or role ARN' {
        { Add-LocalKmsPrincipal -DataPath $dataPath -Arn 'bogus' -ErrorAction Stop } | Should -Throw -ErrorId 'LocalKmsCommandFailed*'
    }

    It 'stops the server it started, and refuses to stop other processes' {
        { Stop-LocalKms -ProcessId $PID -ErrorAction Stop } | Should -Throw -ErrorId 'LocalKmsNotAServer*'
        $kms | Stop-LocalKms
        Start-Sleep -Milliseconds 200
        Get-Process -Id $kms.ProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        { Stop-LocalKms -ProcessId $kms.ProcessId -ErrorAction Stop } | Should -Throw -ErrorId 'LocalKmsNotRunning*'
    }

    It 'restarts on the same data path with the same administrator' {
        $again = Start-LocalKms -DataPath $dataPath
        try {
            $again.AccessKey | Should -Be $kms.AccessKey
        }
        finally {
            $again | Stop-LocalKms
        }
    }
}

Describe 'Local KMS servers belong to the session that started them' {
    It 'Stop-LocalKms without arguments stops the servers this session started' {
        $first = Start-LocalKms -DataPath (Join-Path $TestDrive 'first')
        $second = Start-LocalKms -DataPath (Join-Path $TestDrive 'second')
        Stop-LocalKms
        Get-Process -Id $first.ProcessId, $second.ProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        { Stop-LocalKms -ErrorAction Stop } | Should -Throw -ErrorId 'LocalKmsNotRunning*'
    }

    It 'Stop-LocalKms without arguments leaves a server another session started' {
        $other = [powershell]::Create()
        try {
            $kms = $other.AddCommand('Import-Module').AddArgument((Get-TestModulePath)).AddStatement().
                AddCommand('Start-LocalKms').AddParameter('DataPath', (Join-Path $TestDrive 'other')).Invoke()[0]
            { Stop-LocalKms -ErrorAction Stop } | Should -Throw -ErrorId 'LocalKmsNotRunning*'
            Get-Process -Id $kms.ProcessId | Should -Not -BeNullOrEmpty
        }
        finally {
            $other.Dispose()
        }
    }

    It 'a session that closes stops the servers it started' {
        $session = [powershell]::Create()
        $kms = $session.AddCommand('Import-Module').AddArgument((Get-TestModulePath)).AddStatement().
            AddCommand('Start-LocalKms').AddParameter('DataPath', (Join-Path $TestDrive 'closing')).Invoke()[0]
        Get-Process -Id $kms.ProcessId | Should -Not -BeNullOrEmpty
        $session.Runspace.Close()
        $session.Dispose()
        Get-Process -Id $kms.ProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'Roles of the local KMS, and the SDK''s STS parts in the module''s load context' {
    BeforeAll {
        $dataPath = Join-Path $TestDrive 'kms-roles'
        $kms = Start-LocalKms -Port 0 -DataPath $dataPath
        $account = $kms.AccountId
        $roleArn = "arn:aws:iam::${account}:role/Workload"
        $adminArn = "arn:aws:iam::${account}:user/admin"
        $role = $kms | Add-LocalKmsRole -Arn $roleArn -TrustedPrincipal $adminArn -WebIdentitySubject 'ci'
        $keyId = (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.KeyId
        $aws = @{ EndpointUrl = $kms.Endpoint.ToString(); Region = $kms.Region }
        # A key the role may read and nobody else but the administrator: reading it proves the request came as the role.
        $policy = @{ Version = '2012-10-17'; Statement = @(
                @{ Sid = 'Admin'; Effect = 'Allow'; Principal = @{ AWS = $adminArn }; Action = 'kms:*'; Resource = '*' }
                @{ Sid = 'Role'; Effect = 'Allow'; Principal = @{ AWS = $roleArn }; Action = 'kms:DescribeKey', 'kms:GetKeyPolicy'; Resource = '*' }
            ) } | ConvertTo-Json -Depth 5
        (Invoke-TestKms -Kms $kms -Operation PutKeyPolicy -Body @{ KeyId = $keyId; PolicyName = 'default'; Policy = $policy }).StatusCode | Should -Be 200
        $saved = @{}
        foreach ($name in 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_SESSION_NAME', 'AWS_ENDPOINT_URL_STS', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE') {
            $saved[$name] = [Environment]::GetEnvironmentVariable($name)
            [Environment]::SetEnvironmentVariable($name, $null)
        }
        # The SDK's own credential providers ask STS where AWS_ENDPOINT_URL_STS says: the local KMS port.
        $env:AWS_ENDPOINT_URL_STS = $kms.Endpoint.ToString()
    }

    AfterAll {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
    }

    It 'Add-LocalKmsRole returns the role as the server keeps it' {
        $role.Arn | Should -Be $roleArn
        $role.TrustedPrincipal | Should -Be @($adminArn)
        $role.WebIdentitySubject | Should -Be @('ci')
        $role.MaxSessionDuration | Should -Be 3600
        $role.DataPath | Should -Be $kms.DataPath
        { $kms | Add-LocalKmsRole -Arn "arn:aws:iam::${account}:user/not-a-role" -ErrorAction Stop } | Should -Throw -ErrorId 'LocalKmsCommandFailed*'
    }

    It 'an assume-role profile (role_arn, source_profile) reaches KMS as the role: AWSSDK.SecurityToken loads' {
        $keys = $kms.Credential.GetCredentials()
        $file = Join-Path $TestDrive 'credentials'
        "[admin]`naws_access_key_id = $($keys.AccessKey)`naws_secret_access_key = $($keys.SecretKey)`n`n[workload]`nrole_arn = $roleArn`nsource_profile = admin`n" | Set-Content -LiteralPath $file

        (Get-KmsEnclavePolicy -KeyId $keyId -ProfileName workload -ProfileLocation $file @aws).KeyId | Should -Be $keyId
    }

    It 'a web identity token file (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) reaches KMS as the role' {
        $tokenFile = Join-Path $TestDrive 'token'
        $kms | New-LocalKmsWebIdentityToken -Subject 'ci' | Set-Content -NoNewline -LiteralPath $tokenFile
        # In a child pwsh: the SDK keeps what its default chain resolved for the whole process, which must not reach
        # other suites. StsTests (xunit) has the refused tokens.
        $output = & (Get-TestPwsh) -NoProfile -NonInteractive -Command {
            param($Module, $RoleArn, $TokenFile, $Endpoint, $Region, $KeyId)
            $ErrorActionPreference = 'Stop'
            $env:AWS_ROLE_ARN = $RoleArn
            $env:AWS_WEB_IDENTITY_TOKEN_FILE = $TokenFile
            $env:AWS_ROLE_SESSION_NAME = 'pester'
            Import-Module $Module
            (Get-KmsEnclavePolicy -KeyId $KeyId -EndpointUrl $Endpoint -Region $Region).KeyId
        } -args (Get-TestModulePath), $roleArn, $tokenFile, $kms.Endpoint.ToString(), $kms.Region, $keyId 2>&1
        $LASTEXITCODE | Should -Be 0 -Because "$output"
        $output | Should -Be $keyId
    }
}
