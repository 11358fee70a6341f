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
