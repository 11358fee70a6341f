#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# The two principals of the simulation: the data owner, who owns the key (DataOwnerCredential), and the parent
# instance, whose credentials the session defaults hold. The parent may encrypt and have the enclave detect, but it
# decrypts nothing itself and cannot change the key policy that denies it.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $repoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    $sample = Join-Path $repoRoot 'tests/data/detection/air-show.jpg'

    function Get-ShortKey([string] $AccessKey) {
        '{0}...{1}' -f $AccessKey.Substring(0, 4), $AccessKey.Substring($AccessKey.Length - 4)
    }
}

Describe 'The parent and the data owner in the simulation' {
    BeforeAll {
        $dataPath = Join-Path $TestDrive 'sim'
        $simulation = Start-EnclaveSimulation -DataPath $dataPath
        $dataOwner = $simulation.DataOwnerCredential
        $work = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'files')
        $plain = Join-Path $work 'air-show.jpg'
        Copy-Item -LiteralPath $sample -Destination $plain
        $encrypted = (Protect-EnclaveFile -LiteralPath $plain -Destination (Join-Path $work 'owner.enc') -Credential $dataOwner).Destination
    }

    AfterAll {
        Stop-EnclaveSimulation -ErrorAction SilentlyContinue
    }

    It 'has two distinct principals; the session defaults hold the parent''s credentials' {
        $simulation.DataOwnerArn | Should -Be "arn:aws:iam::111122223333:user/data-owner"
        $simulation.ParentArn | Should -Be "arn:aws:iam::111122223333:role/parent-instance"
        $dataOwner.AccessKey | Should -Not -Be $simulation.Credential.AccessKey
        $PSDefaultParameterValues['Unprotect-EnclaveFile:Credential'] | Should -Be $simulation.Credential
        $PSDefaultParameterValues['Set-KmsEnclavePolicy:Credential'] | Should -Be $simulation.Credential
    }

    It 'the key policy names both principals and not the account root, and is pinned to the simulated enclave for the parent' {
        $policy = Get-KmsEnclavePolicy -Credential $dataOwner
        $policy.Policy | Should -Not -Match ':root"'
        $statements = ($policy.Policy | ConvertFrom-Json).Statement
        ($statements | Where-Object Sid -eq 'DataOwnerAdministersTheKey').Principal.AWS | Should -Be $simulation.DataOwnerArn
        ($statements | Where-Object Sid -eq 'ParentEncryptsInputs').Principal.AWS | Should -Be $simulation.ParentArn
        ($statements | Where-Object Sid -eq 'NitroEnclaveAllowAttestedDecrypt').Principal.AWS | Should -Be $simulation.ParentArn
        $policy.Conditions | Where-Object { $_.Effect -eq 'Allow' -and $_.ConditionKey -eq 'kms:RecipientAttestation:PCR0' } |
            ForEach-Object Values | Should -Be $simulation.Pcrs.PCR0
    }

    It 'the parent (the session defaults) may encrypt an input' {
        $protected = Protect-EnclaveFile -LiteralPath $plain -Destination (Join-Path $work 'parent.enc') -Verbose 4>&1
        @($protected | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message |
            Should -Contain "AWS credentials: -Credential, access key $(Get-ShortKey $simulation.AccessKey)."
        ($protected | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).KeyArn | Should -Be $simulation.KeyArn
    }

    It 'the parent cannot decrypt the input: KmsAccessDenied, and nothing is written' {
        $destination = Join-Path $work 'parent.jpg'
        { Unprotect-EnclaveFile -LiteralPath $encrypted -Destination $destination -ErrorAction Stop } | Should -Throw -ErrorId 'KmsAccessDenied*'
        Test-Path -LiteralPath $destination | Should -BeFalse
    }

    It 'the parent cannot change the key policy: neither unpin the key nor admit another principal' {
        $before = (Get-KmsEnclavePolicy -Credential $dataOwner).Policy
        { Set-KmsEnclavePolicy -Remove -Force -ErrorAction Stop } | Should -Throw -ErrorId 'KmsAccessDenied*' -ExpectedMessage '*PutKeyPolicy*'
        { Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal 'arn:aws:iam::111122223333:role/intruder' -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'KmsAccessDenied*'
        (Get-KmsEnclavePolicy -Credential $dataOwner).Policy | Should -Be $before
    }

    It 'the parent runs detection: the enclave decrypts under attestation with the parent''s credentials' {
        $result = Invoke-EnclaveDetection -LiteralPath $encrypted
        @($result.Objects | Where-Object Label -eq 'airplane') | Should -HaveCount 5
    }

    It 'an explicit -Credential $simulation.DataOwnerCredential wins over the session defaults' {
        $records = Get-KmsEnclavePolicy -Credential $dataOwner -Verbose 4>&1
        @($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message |
            Should -Contain "AWS credentials: -Credential, access key $(Get-ShortKey $dataOwner.AccessKey)."
    }

    It 'the data owner administers the key: unpins it, decrypts their own input meanwhile, and pins it again' {
        Set-KmsEnclavePolicy -Remove -Force -Credential $dataOwner
        try {
            (Get-KmsEnclavePolicy -Credential $dataOwner).HasEnclaveStatements | Should -BeFalse
            $opened = Unprotect-EnclaveFile -LiteralPath $encrypted -Destination (Join-Path $work 'owner.jpg') -Credential $dataOwner
            (Get-FileHash -LiteralPath $opened.Destination).Hash | Should -Be (Get-FileHash -LiteralPath $plain).Hash
            # The parent is still denied: the policy gives it no Decrypt of its own.
            { Unprotect-EnclaveFile -LiteralPath $encrypted -Destination (Join-Path $work 'parent2.jpg') -ErrorAction Stop } | Should -Throw -ErrorId 'KmsAccessDenied*'
        }
        finally {
            Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal $simulation.ParentArn -Force -Credential $dataOwner
        }
        (Get-KmsEnclavePolicy -Credential $dataOwner).HasEnclaveStatements | Should -BeTrue
        { Unprotect-EnclaveFile -LiteralPath $encrypted -Destination (Join-Path $work 'owner2.jpg') -Credential $dataOwner -ErrorAction Stop } |
            Should -Throw -ErrorId 'KmsAccessDenied*'
    }

    It 'creates the result key with its alias, pinned: only the attested enclave makes its data keys, only the data owner decrypts' {
        $simulation.ResultKeyAlias | Should -Be 'alias/nitroenclave-simulation-results'
        $policy = Get-KmsEnclavePolicy -KeyId $simulation.ResultKeyAlias -Credential $dataOwner
        $policy.KeyArn | Should -Be $simulation.ResultKeyArn
        $policy.KeyArn | Should -Not -Be $simulation.KeyArn
        $policy.Policy | Should -Not -Match ':root"'
        $statements = ($policy.Policy | ConvertFrom-Json).Statement
        ($statements | Where-Object Sid -eq 'NitroEnclaveResultAllowAttestedGenerateDataKey').Principal.AWS | Should -Be $simulation.ParentArn
        ($statements | Where-Object Sid -eq 'NitroEnclaveResultAllowDataOwners').Principal.AWS | Should -Be $simulation.DataOwnerArn
        $policy.Conditions | Where-Object { $_.Effect -eq 'Allow' -and $_.ConditionKey -eq 'kms:RecipientAttestation:PCR0' } |
            ForEach-Object Values | Should -Be $simulation.Pcrs.PCR0
    }

    It 'confidential mode: the parent sees only that a result exists; its Unprotect is denied; the data owner reads the five airplanes' {
        $results = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'results')
        $confidential = Invoke-EnclaveDetection -LiteralPath $encrypted -ResultKeyId $simulation.ResultKeyAlias -ResultPath $results
        $confidential.ResultPath | Should -Be (Join-Path $results 'owner.result.enc')
        $confidential.PSObject.Properties.Name | Should -Not -Contain 'Objects'
        { $confidential | Unprotect-EnclaveDetectionResult -ErrorAction Stop } | Should -Throw -ErrorId 'KmsAccessDenied*'
        $owned = $confidential | Unprotect-EnclaveDetectionResult -Credential $dataOwner
        @($owned.Objects | Where-Object Label -eq 'airplane') | Should -HaveCount 5
    }

    It 'the parent cannot change the result key''s policy to admit itself' {
        $before = (Get-KmsEnclavePolicy -KeyId $simulation.ResultKeyAlias -Credential $dataOwner).Policy
        { Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -KeyId $simulation.ResultKeyAlias -ResultKey -DataOwner $simulation.ParentArn -Principal $simulation.ParentArn -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'KmsAccessDenied*'
        (Get-KmsEnclavePolicy -KeyId $simulation.ResultKeyAlias -Credential $dataOwner).Policy | Should -Be $before
    }

    It 'DataOwnerCredential never prints its secret' {
        $secret = $dataOwner.GetCredentials().SecretKey
        $secret.Length | Should -Be 40
        "$dataOwner" | Should -Be "access key $($dataOwner.AccessKey)"
        foreach ($text in @(
                ($simulation | Format-List * | Out-String -Width 300),
                ($simulation | Out-String -Width 300),
                ($dataOwner | Format-List * | Out-String -Width 300),
                ($simulation | ConvertTo-Json -Depth 2 -WarningAction SilentlyContinue),
                "$simulation")) {
            $text | Should -Not -Match ([regex]::Escape($secret))
        }
        $dataOwner.PSObject.Properties.Name | Should -Not -Contain 'SecretKey'
    }
}

Describe 'A simulation started again on the same data path' {
    It 'reuses both principals'' access keys and gives the key its policy again' {
        $dataPath = Join-Path $TestDrive 'again'
        $first = Start-EnclaveSimulation -DataPath $dataPath
        Set-KmsEnclavePolicy -Remove -Force -Credential $first.DataOwnerCredential
        Stop-EnclaveSimulation
        $second = Start-EnclaveSimulation -DataPath $dataPath
        try {
            $second.DataOwnerCredential.AccessKey | Should -Be $first.DataOwnerCredential.AccessKey
            $second.Credential.AccessKey | Should -Be $first.Credential.AccessKey
            $second.KeyArn | Should -Be $first.KeyArn
            (Get-KmsEnclavePolicy).HasEnclaveStatements | Should -BeTrue
        }
        finally {
            Stop-EnclaveSimulation
        }
    }
}

Describe 'A debug-mode simulation' {
    BeforeAll {
        # An image of its own: the simulation's cached image may be replaced by another module's simulation meanwhile.
        $eif = New-TestEif -Path (Join-Path $TestDrive 'debug.eif')
        $simulation = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'debug') -DebugMode -ImagePath $eif.Path -WarningVariable warned -WarningAction SilentlyContinue
        $encrypted = (Protect-EnclaveFile -LiteralPath $sample -Destination (Join-Path $TestDrive 'debug.enc') -Credential $simulation.DataOwnerCredential).Destination
    }

    AfterAll {
        Stop-EnclaveSimulation -ErrorAction SilentlyContinue
    }

    It 'warns that all-zero PCRs cannot be pinned and pins the key to the image''s own measurements' {
        "$warned" | Should -Match 'cannot be pinned|no key policy can pin'
        $simulation.Pcrs.PCR0 | Should -Be ('0' * 96)
        foreach ($key in $simulation.KeyAlias, $simulation.ResultKeyAlias) {
            (Get-KmsEnclavePolicy -KeyId $key).Conditions | Where-Object { $_.Effect -eq 'Allow' -and $_.ConditionKey -eq 'kms:RecipientAttestation:PCR0' } |
                ForEach-Object Values | Should -Be $eif.PCR0
        }
    }

    It 'the debug-mode enclave is denied the key, as on AWS' {
        Invoke-EnclaveDetection -LiteralPath $encrypted -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -BeLike '*KmsAccessDenied*'
    }

    It 'the data owner cannot pin the all-zero PCRs either: a clear error' {
        { Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Force -Credential $simulation.DataOwnerCredential -ErrorAction Stop } |
            Should -Throw -ErrorId 'EnclaveMeasurementAllZero*'
    }
}
