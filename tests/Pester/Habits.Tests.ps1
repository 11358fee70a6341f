#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# The habits of PowerShell users: each cmdlet's output pipes into the natural next cmdlet by property name.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $repoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    $sample = Join-Path $repoRoot 'tests/data/detection/air-show.jpg'
    $simulation = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
    $dataOwner = $simulation.DataOwnerCredential
}

AfterAll {
    Stop-EnclaveSimulation -ErrorAction SilentlyContinue
}

Describe 'Files the module writes pipe on as those files' {
    BeforeAll {
        $work = Join-Path $TestDrive 'files'
        $null = New-Item -ItemType Directory -Path $work
        Copy-Item -LiteralPath $sample -Destination $work
        $plain = Join-Path $work 'air-show.jpg'
        # The data owner takes the pinning off, so that they may decrypt too (the pinned Deny applies to everyone).
        Set-KmsEnclavePolicy -Remove -Force -Credential $dataOwner
    }

    It 'Protect-EnclaveFile | Unprotect-EnclaveFile decrypts the file just written (the data owner, the key not pinned)' {
        $opened = Protect-EnclaveFile -LiteralPath $plain -Credential $dataOwner |
            Unprotect-EnclaveFile -Destination (Join-Path $work 'round-trip.jpg') -Credential $dataOwner
        $opened.Source | Should -Be "$plain.enc"
        (Get-FileHash -LiteralPath $opened.Destination).Hash | Should -Be (Get-FileHash -LiteralPath $plain).Hash
    }

    It 'Unprotect-EnclaveFile | Protect-EnclaveFile encrypts the file just decrypted' {
        $again = Unprotect-EnclaveFile -LiteralPath "$plain.enc" -Destination (Join-Path $work 'again.jpg') -Credential $dataOwner |
            Protect-EnclaveFile -Credential $dataOwner
        $again.Source | Should -Be (Join-Path $work 'again.jpg')
        $again.Destination | Should -Be (Join-Path $work 'again.jpg.enc')
        Test-Path -LiteralPath $again.Destination | Should -BeTrue
    }

    It 'Protect-EnclaveFile | Invoke-EnclaveDetection detects in the file just encrypted' {
        Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal $simulation.ParentArn -Force -Credential $dataOwner
        $result = Get-ChildItem -LiteralPath $plain | Protect-EnclaveFile -Destination (Join-Path $work 'piped.enc') | Invoke-EnclaveDetection
        Split-Path $result.Path -Leaf | Should -Be 'piped.enc'
        @($result.Objects | Where-Object Label -eq 'airplane') | Should -HaveCount 5
    }

    It 'Invoke-EnclaveDetection | Export-EnclaveDetectionImage draws on the original image' {
        $drawn = Invoke-EnclaveDetection -LiteralPath (Join-Path $work 'piped.enc') |
            Export-EnclaveDetectionImage -ImagePath $plain -Destination (Join-Path $work 'drawn.jpg') -PassThru
        $drawn | Should -BeOfType [System.IO.FileInfo]
        $drawn.Length | Should -BeGreaterThan 0
    }
}

Describe 'Objects that name a server or a key pipe into the cmdlets that take them' {
    It 'Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy pins the simulated measurements' {
        $policy = Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Force -PassThru -Credential $dataOwner
        $policy.Conditions | Where-Object ConditionKey -eq 'kms:RecipientAttestation:PCR0' |
            ForEach-Object Values | Should -Contain $simulation.Pcrs.PCR0
    }

    It 'Start-LocalKms | Add-LocalKmsPrincipal and | Stop-LocalKms use that server' {
        $kms = Start-LocalKms -DataPath (Join-Path $TestDrive 'kms')
        try {
            $principal = $kms | Add-LocalKmsPrincipal -Arn 'arn:aws:iam::111122223333:role/Parent'
            $principal.DataPath | Should -Be $kms.DataPath
        }
        finally {
            $kms | Stop-LocalKms
        }
        Get-Process -Id $kms.ProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe '-Force means no confirmation prompt' {
    It 'Set-KmsEnclavePolicy is ConfirmImpact High; -Force writes without asking, -Force -WhatIf writes nothing' {
        [System.Management.Automation.CommandMetadata]::new((Get-Command Set-KmsEnclavePolicy)).ConfirmImpact | Should -Be 'High'
        $before = Get-KmsEnclavePolicy
        Set-KmsEnclavePolicy -Remove -Force -WhatIf -Credential $dataOwner
        (Get-KmsEnclavePolicy).Policy | Should -Be $before.Policy
        Set-KmsEnclavePolicy -Remove -Force -Credential $dataOwner
        (Get-KmsEnclavePolicy).HasEnclaveStatements | Should -BeFalse
    }

    It 'bypassing the lockout check is its own switch, named like the KMS API parameter' {
        $parameters = (Get-Command Set-KmsEnclavePolicy).Parameters
        $parameters.Keys | Should -Contain 'BypassPolicyLockoutSafetyCheck'
        $parameters['BypassPolicyLockoutSafetyCheck'].SwitchParameter | Should -BeTrue
    }
}

Describe 'Secrets are not plain string properties' {
    It 'the simulation holds its credentials as an object that Format-List * does not print, and -Credential takes it' {
        $secret = $simulation.Credential.GetCredentials().SecretKey
        $secret.Length | Should -Be 40
        $simulation.PSObject.Properties.Name | Should -Not -Contain 'SecretKey'
        $text = $simulation | Format-List * | Out-String -Width 200
        $text | Should -Not -Match ([regex]::Escape($secret))
        $text | Should -Match ([regex]::Escape($simulation.AccessKey))
        "$($simulation.Credential)" | Should -Not -Match ([regex]::Escape($secret))
        (Get-KmsEnclavePolicy -Credential $simulation.Credential).KeyArn | Should -Be $simulation.KeyArn
    }

    It '$PSDefaultParameterValues holds no secret in clear' {
        $secret = $simulation.Credential.GetCredentials().SecretKey
        $PSDefaultParameterValues | Out-String -Width 400 | Should -Not -Match ([regex]::Escape($secret))
        $PSDefaultParameterValues.Values | ForEach-Object { "$_" } | Should -Not -Contain $secret
        $PSDefaultParameterValues.Keys | Should -Contain 'Protect-EnclaveFile:Credential'
    }

    It 'a local KMS and its principals hold their keys the same way' {
        $kms = Start-LocalKms -DataPath (Join-Path $TestDrive 'kms-secrets')
        try {
            $principal = $kms | Add-LocalKmsPrincipal -Arn 'arn:aws:iam::111122223333:role/Reader'
            foreach ($item in $kms, $principal) {
                $secret = $item.Credential.GetCredentials().SecretKey
                $item | Format-List * | Out-String -Width 200 | Should -Not -Match ([regex]::Escape($secret))
            }
        }
        finally {
            $kms | Stop-LocalKms
        }
    }

    It 'an explicit -ProfileName wins over the simulation''s default credentials' {
        $profiles = Join-Path $TestDrive 'credentials'
        Set-Content -LiteralPath $profiles -Value "[wrong]`naws_access_key_id = AKIAWRONGWRONGWRONG0`naws_secret_access_key = wrong"
        { Get-KmsEnclavePolicy -ProfileName wrong -ProfileLocation $profiles -ErrorAction Stop } | Should -Throw
        (Get-KmsEnclavePolicy).KeyArn | Should -Be $simulation.KeyArn
    }
}
