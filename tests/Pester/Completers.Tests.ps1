#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Habits of PowerShell users: Tab completes the values a parameter takes, -Class refuses a label the model lacks, and
# -Verbose / -Debug say what a cmdlet resolved and which requests it made, never a secret.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $repoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    $sample = Join-Path $repoRoot 'tests/data/detection/air-show.jpg'
    $simulation = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
    $secret = $simulation.Credential.GetCredentials().SecretKey
    $accessKey = $simulation.AccessKey
    $shortKey = '{0}...{1}' -f $accessKey.Substring(0, 4), $accessKey.Substring($accessKey.Length - 4)
    $plain = Join-Path $TestDrive 'air-show.jpg'
    Copy-Item -LiteralPath $sample -Destination $plain
    # Encrypted by the parent (the session defaults), which may encrypt inputs but not decrypt them.
    $encrypted = (Protect-EnclaveFile -LiteralPath $plain).Destination
    $dataOwner = $simulation.DataOwnerCredential

    function Get-Completion([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
    }

    # Completion in a fresh pwsh: the AWS SDK reads AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE once per process.
    function Invoke-InFreshSession([scriptblock] $Script, [object[]] $Arguments, [hashtable] $Environment) {
        $saved = @{}
        foreach ($name in $Environment.Keys) {
            $saved[$name] = [Environment]::GetEnvironmentVariable($name)
            [Environment]::SetEnvironmentVariable($name, $Environment[$name])
        }
        try {
            & (Get-TestPwsh) -NoProfile -NonInteractive -Command $Script -args (@(Get-TestModulePath) + $Arguments)
        }
        finally {
            foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        }
    }

    function Get-Messages([object[]] $Records, [type] $Type) {
        @($Records | Where-Object { $_ -is $Type } | ForEach-Object Message)
    }
}

AfterAll {
    Stop-EnclaveSimulation -ErrorAction SilentlyContinue
}

Describe 'Argument completers' {
    It '-Region completes the AWS Regions that start with the typed text, ignoring case' {
        $regions = Get-Completion 'Protect-EnclaveFile -Region EU-WE'
        $regions.CompletionText | Should -Contain 'eu-west-1'
        $regions.CompletionText | Should -Contain 'eu-west-3'
        $regions.CompletionText | ForEach-Object { $_ | Should -BeLike 'eu-we*' }
        ($regions | Where-Object CompletionText -eq 'eu-west-1').ToolTip | Should -Match 'Ireland'
        (Get-Completion 'Start-LocalKms -Region ap-southeast-').CompletionText | Should -Contain 'ap-southeast-2'
    }

    It '-ProfileName completes the profiles of AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, quoting names with spaces' {
        $aws = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'aws-files')
        $credentials = Join-Path $aws 'credentials'
        $config = Join-Path $aws 'config'
        Set-Content -LiteralPath $credentials -Value "[default]`naws_access_key_id = AKIAIOSFODNN7EXAMPLE`naws_secret_access_key = s1`n[dev team]`naws_access_key_id = AKIAI44QH8DHBEXAMPLE`naws_secret_access_key = s2"
        Set-Content -LiteralPath $config -Value "[profile prod]`nregion = eu-west-1`nrole_arn = arn:aws:iam::111122223333:role/Prod`nsource_profile = default`n[sso-session corp]`nsso_region = us-east-1"

        $completed = Invoke-InFreshSession -Environment @{ AWS_SHARED_CREDENTIALS_FILE = $credentials; AWS_CONFIG_FILE = $config } -Arguments @() -Script {
            param($module)
            Import-Module $module
            foreach ($line in 'Get-KmsEnclavePolicy -ProfileName ', 'Get-KmsEnclavePolicy -ProfileName DE') {
                (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText -join '|'
            }
        }

        $completed[0] | Should -Be "default|'dev team'|prod"
        $completed[1] | Should -Be "default|'dev team'"
    }

    It '-ProfileName reads the -ProfileLocation file typed before it' {
        $other = Join-Path $TestDrive 'other-credentials'
        Set-Content -LiteralPath $other -Value "[from-location]`naws_access_key_id = AKIAIOSFODNN7EXAMPLE`naws_secret_access_key = s"
        (Get-Completion "Protect-EnclaveFile -ProfileLocation '$other' -ProfileName from-").CompletionText | Should -Be 'from-location'
    }

    It '-Class completes the labels of the model, by prefix, quoting labels with spaces' {
        (Get-Completion 'Invoke-EnclaveDetection -Class air').CompletionText | Should -Be 'airplane'
        (Get-Completion 'Invoke-EnclaveDetection -Class TRAF').CompletionText | Should -Be "'traffic light'"
        (Get-Completion "Invoke-EnclaveDetection -Class 'teddy").CompletionText | Should -Be "'teddy bear'"
        $second = (Get-Completion 'Invoke-EnclaveDetection -Class person,ca').CompletionText
        $second | Should -Contain 'car'
        $second | Should -Contain 'cat'
        $second | ForEach-Object { $_ | Should -BeLike 'ca*' }
    }

    Context 'enclaves (the nitro-cli test double)' {
        BeforeAll {
            $savedPath = $env:PATH
            $env:PATH = (Join-Path $repoRoot 'tests/data/fake-nitro-cli') + [System.IO.Path]::PathSeparator + $env:PATH
            $env:FAKE_NITRO_CLI_STATE = Join-Path $TestDrive 'nitro-cli'
            $image = Join-Path $TestDrive 'app.eif'
            [System.IO.File]::WriteAllBytes($image, [byte[]]::new(4096))
            $web = Start-Enclave -ImagePath $image -Name 'web app'
            $worker = Start-Enclave -ImagePath $image -Name 'worker'
        }

        AfterAll {
            $env:PATH = $savedPath
            Remove-Item Env:FAKE_NITRO_CLI_STATE -ErrorAction SilentlyContinue
        }

        It '-EnclaveName completes the names of the running enclaves, the simulated one first' {
            (Get-Completion 'Invoke-EnclaveDetection -EnclaveName ').CompletionText | Should -Be @('simulation', "'web app'", 'worker')
            (Get-Completion 'Get-EnclaveAttestation -EnclaveName WO').CompletionText | Should -Be 'worker'
        }

        It '-Id completes the ids of the running enclaves; a terminated one is gone' {
            $simulated = (Get-Enclave -Name 'simulation').EnclaveID
            (Get-Completion 'Stop-Enclave -Id ').CompletionText | Should -Be @($simulated, $web.EnclaveID, $worker.EnclaveID)
            $null = Stop-Enclave -Id $web.EnclaveID -Force
            (Get-Completion 'Stop-Enclave -Id ').CompletionText | Should -Be @($simulated, $worker.EnclaveID)
            (Get-Completion 'Invoke-EnclaveDetection -EnclaveName ').CompletionText | Should -Be @('simulation', 'worker')
        }
    }

    It '-KeyId completes the aliases KMS lists with the session''s credentials (the simulation''s defaults)' {
        (Get-Completion 'Protect-EnclaveFile -KeyId alias/nitro').CompletionText | Should -Be @($simulation.KeyAlias, $simulation.ResultKeyAlias)
        (Get-Completion 'Invoke-EnclaveDetection -ResultKeyId alias/nitroenclave-simulation-').CompletionText | Should -Be $simulation.ResultKeyAlias
        $policy = Get-Completion 'Get-KmsEnclavePolicy -KeyId ALIAS/'
        $policy.CompletionText | Should -Contain $simulation.KeyAlias
        ($policy | Where-Object CompletionText -eq $simulation.KeyAlias).ToolTip | Should -Match ([regex]::Escape(($simulation.KeyArn -split '/')[-1]))
    }

    It '-KeyId completes nothing, and reports no error, when KMS cannot be reached' {
        $errors = $Error.Count
        Get-Completion 'Set-KmsEnclavePolicy -EndpointUrl http://127.0.0.1:9 -KeyId alias/' | Should -BeNullOrEmpty
        $Error.Count | Should -Be $errors
    }
}

Describe 'An unknown -Class label' {
    # Start-EnclaveSimulation pinned the key to the simulated enclave.
    It 'is DetectionClassUnknown, naming the label and the valid ones, before any file is sent' {
        $records = [System.Collections.Generic.List[object]]::new()
        $failure = $null
        try {
            Invoke-EnclaveDetection -LiteralPath $encrypted -Class person, aeroplane -Debug 5>&1 | ForEach-Object { $records.Add($_) }
        }
        catch {
            $failure = $_
        }

        $failure.FullyQualifiedErrorId | Should -Be 'DetectionClassUnknown,NitroEnclave.PowerShell.Commands.InvokeEnclaveDetectionCommand'
        $failure.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $failure.TargetObject | Should -Be 'aeroplane'
        $failure.Exception.Message | Should -Match "no label 'aeroplane'"
        $failure.Exception.Message | Should -Match 'airplane'
        $debug = Get-Messages $records ([System.Management.Automation.DebugRecord])
        $debug | Should -Contain "Describe request to $($simulation.EnclaveEndpoint): 17 bytes"
        $debug | Where-Object { $_ -like 'Detect *' } | Should -BeNullOrEmpty
    }

    It 'known labels match in any case and restrict the result' {
        $result = Invoke-EnclaveDetection -LiteralPath $encrypted -Class AIRPLANE
        $result.Objects | Should -Not -BeNullOrEmpty
        $result.Objects.Label | Sort-Object -Unique | Should -Be 'airplane'
    }
}

Describe '-Verbose says what was resolved; -Debug shows the requests, never a secret' {
    It 'Protect-EnclaveFile names the credential source, region and endpoint, and the GenerateDataKey request' {
        $records = Protect-EnclaveFile -LiteralPath $plain -Destination (Join-Path $TestDrive 'verbose.enc') -Verbose -Debug *>&1
        $verbose = Get-Messages $records ([System.Management.Automation.VerboseRecord])
        $verbose | Should -Contain "AWS credentials: -Credential, access key $shortKey."
        $verbose | Should -Contain "AWS region: $($simulation.Region) (from -Region)."
        $verbose | Should -Contain "KMS endpoint: $($simulation.KmsEndpoint)/ (-EndpointUrl)."
        Get-Messages $records ([System.Management.Automation.DebugRecord]) |
            Should -Be "KMS GenerateDataKey key $($simulation.KeyAlias) at $($simulation.KmsEndpoint)/"
        $records | Out-String -Width 500 | Should -Not -Match ([regex]::Escape($secret))
    }

    It 'Unprotect-EnclaveFile shows its Decrypt request' {
        # The data owner may decrypt once the pinning is off; the pinned Deny statements apply to everyone.
        Set-KmsEnclavePolicy -Remove -Force -Credential $dataOwner
        try {
            $records = Unprotect-EnclaveFile -LiteralPath $encrypted -Destination (Join-Path $TestDrive 'opened.jpg') -Credential $dataOwner -Debug -ErrorAction Stop 5>&1
        }
        finally {
            Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal $simulation.ParentArn -Force -Credential $dataOwner
        }
        Get-Messages $records ([System.Management.Automation.DebugRecord]) |
            Should -Be "KMS Decrypt key $($simulation.KeyArn) at $($simulation.KmsEndpoint)/"
    }

    It 'Get-KmsEnclavePolicy with -AccessKey/-SecretKey names the explicit key, shortened, and both its requests' {
        $records = Get-KmsEnclavePolicy -AccessKey $accessKey -SecretKey $secret -Verbose -Debug *>&1
        Get-Messages $records ([System.Management.Automation.VerboseRecord]) | Should -Contain "AWS credentials: -AccessKey/-SecretKey, access key $shortKey."
        Get-Messages $records ([System.Management.Automation.DebugRecord]) | Should -Be @(
            "KMS DescribeKey key $($simulation.KeyAlias) at $($simulation.KmsEndpoint)/"
            "KMS GetKeyPolicy key $($simulation.KeyArn) at $($simulation.KmsEndpoint)/")
        $records | Out-String -Width 500 | Should -Not -Match ([regex]::Escape($secret))
    }

    It 'a profile is named with the file that defines it' {
        $file = Join-Path $TestDrive 'sim-credentials'
        Set-Content -LiteralPath $file -Value "[sim]`naws_access_key_id = $accessKey`naws_secret_access_key = $secret"
        $records = Get-KmsEnclavePolicy -ProfileName sim -ProfileLocation $file -Verbose 4>&1
        Get-Messages $records ([System.Management.Automation.VerboseRecord]) | Should -Contain "AWS credentials: profile 'sim', defined in $file."
        @($records | Where-Object { $_ -isnot [System.Management.Automation.InformationalRecord] }).KeyArn | Should -Be $simulation.KeyArn
    }

    It 'the SDK default chain is resolved to the source that answered (AWS_PROFILE, region from the config file)' {
        $aws = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'chain')
        $credentials = Join-Path $aws 'credentials'
        $config = Join-Path $aws 'config'
        Set-Content -LiteralPath $credentials -Value "[ops]`naws_access_key_id = AKIAIOSFODNN7EXAMPLE`naws_secret_access_key = never-printed"
        Set-Content -LiteralPath $config -Value "[profile ops]`nregion = eu-central-1"
        $environment = @{ AWS_SHARED_CREDENTIALS_FILE = $credentials; AWS_CONFIG_FILE = $config; AWS_PROFILE = 'ops'; AWS_REGION = $null; AWS_DEFAULT_REGION = $null; AWS_ACCESS_KEY_ID = $null; AWS_SECRET_ACCESS_KEY = $null }

        $verbose = Invoke-InFreshSession -Environment $environment -Arguments @($plain) -Script {
            param($module, $file)
            Import-Module $module
            # -WhatIf: everything is resolved, nothing is sent.
            Protect-EnclaveFile -LiteralPath $file -KeyId alias/app -WhatIf -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        }

        $verbose | Should -Contain "AWS credentials: the AWS SDK default chain: profile 'ops' (AWS_PROFILE), defined in $credentials, access key AKIA...MPLE."
        $verbose | Should -Contain 'AWS region: eu-central-1 (from profile ''ops'').'
        $verbose | Should -Contain 'KMS endpoint: https://kms.eu-central-1.amazonaws.com/ (the region''s endpoint).'
        $verbose -join "`n" | Should -Not -Match 'never-printed'
    }

    It 'Invoke-EnclaveDetection names the credentials, region and server, and shows each request with its size' {
        $records = Invoke-EnclaveDetection -LiteralPath $encrypted -Verbose -Debug *>&1
        $verbose = Get-Messages $records ([System.Management.Automation.VerboseRecord])
        $verbose | Should -Contain "AWS credentials: -Credential, access key $shortKey."
        $verbose | Should -Contain "AWS region: $($simulation.Region) (from -Region), sent to the enclave server for its KMS call."
        $verbose | Should -Contain "Sending files to the enclave server at $($simulation.EnclaveEndpoint), 4 at a time."
        $debug = Get-Messages $records ([System.Management.Automation.DebugRecord])
        $debug | Should -HaveCount 2
        $request = [regex]::Match($debug[0], "^Detect request to $([regex]::Escape($simulation.EnclaveEndpoint)): ([\d,]+) bytes$")
        $request.Success | Should -BeTrue
        # The whole file goes, with the options and credentials around it.
        [long]($request.Groups[1].Value -replace ',') | Should -BeGreaterThan (Get-Item -LiteralPath $encrypted).Length
        $debug[1] | Should -Match "^Detect answer from $([regex]::Escape($simulation.EnclaveEndpoint)): [\d,]+ bytes$"
        $records | Out-String -Width 500 | Should -Not -Match ([regex]::Escape($secret))
        @($records | Where-Object { $_ -isnot [System.Management.Automation.InformationalRecord] }).Objects.Label | Should -Contain 'airplane'
    }
}
