#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
<#
.SYNOPSIS
Validates a real deployment: run it on the parent instance after deploying (README, "Deploying to a Nitro instance").
Tagged Deployment: ./build.ps1 -Task Test leaves it out; it runs only when given its data, as below.

.EXAMPLE
Invoke-Pester -Container (New-PesterContainer -Path ./tests/Pester/Deployment.Tests.ps1 -Data @{
    EnclaveName = 'detector'; KeyId = 'alias/detector'; ImagePath = './detector.eif'; Region = 'eu-west-1'; SampleImage = './sample.jpg' })
#>
param(
    # The enclave: by name (Start-Enclave -Name), or by CID, or an endpoint (tcp:// or unix: for a local setup).
    [string] $EnclaveName,
    [uint32] $Cid,
    [string] $Endpoint,
    # The key the data is encrypted under, and its region.
    [string] $KeyId,
    [string] $Region,
    # The enclave image that is deployed: its PCRs are what the key policy and the attestation must show.
    [string] $ImagePath,
    # A JPEG or PNG to run one detection on.
    [string] $SampleImage,
    # The allocator configuration.
    [string] $AllocatorPath = '/etc/nitro_enclaves/allocator.yaml',
    # Trust this root instead of AWS's (a simulated deployment).
    [string] $TrustedRoot
)

BeforeAll {
    # Not Mandatory parameters: Pester would prompt for them at discovery. A missing value stops every test here
    # with this one cause.
    $missing = @{ KeyId = $KeyId; Region = $Region; ImagePath = $ImagePath; SampleImage = $SampleImage }.GetEnumerator() |
        Where-Object { -not $_.Value } | ForEach-Object Key | Sort-Object
    if ($missing) {
        throw "The deployment suite validates a real deployment and needs its data: $($missing -join ', ') missing. " +
            "Run it as: Invoke-Pester -Container (New-PesterContainer -Path $(Join-Path $PSScriptRoot 'Deployment.Tests.ps1') -Data @{ KeyId = ...; Region = ...; ImagePath = ...; SampleImage = ...; EnclaveName = ... })"
    }
    $ErrorActionPreference = 'Stop'
    Import-Module (Join-Path $PSScriptRoot '../../out/NitroEnclave/NitroEnclave.psd1') -Force
    $target = @{}
    if ($Endpoint) { $target.Endpoint = $Endpoint } elseif ($Cid) { $target.Cid = $Cid } elseif ($EnclaveName) { $target.EnclaveName = $EnclaveName }
    $trust = @{}
    if ($TrustedRoot) { $trust.TrustedRoot = $TrustedRoot }
    $pcrs = Get-EnclavePcr -Path $ImagePath
    $work = Join-Path ([System.IO.Path]::GetTempPath()) ("nitroenclave-validation-" + [guid]::NewGuid())
    $null = New-Item -ItemType Directory -Path $work
}

AfterAll {
    if ($work) { Remove-Item -Recurse -Force -LiteralPath $work -ErrorAction SilentlyContinue }
}

Describe 'The host' -Tag Deployment {
    It 'has an allocator configuration without errors, large enough for the image' -Skip:([bool]$Endpoint) {
        $allocator = Get-EnclaveAllocator -Path $AllocatorPath -ImagePath $ImagePath
        $allocator.Findings | Where-Object Severity -eq 'Error' | Should -BeNullOrEmpty
        $allocator.MemoryMiB | Should -BeGreaterOrEqual ([math]::Ceiling(4 * (Get-Item $ImagePath).Length / 1MB))
    }

    It 'runs the enclave, not in debug mode' -Skip:([bool]$Endpoint) {
        $enclave = Get-Enclave | Where-Object { -not $EnclaveName -or $_.EnclaveName -eq $EnclaveName }
        $enclave | Should -HaveCount 1
        $enclave.State | Should -Be 'RUNNING'
        $enclave.Flags | Should -Not -Be 'DEBUG_MODE'
    }
}

Describe 'The enclave' -Tag Deployment {
    It 'attests with the image''s PCRs, signed by the trusted root' {
        $result = Get-EnclaveAttestation @target | Test-EnclaveAttestation -ExpectedPcr $pcrs @trust
        $result.Failures | Should -BeNullOrEmpty
        $result.IsValid | Should -BeTrue
    }
}

Describe 'The key policy' -Tag Deployment {
    BeforeAll {
        $ErrorActionPreference = 'Stop'
        $policy = Get-KmsEnclavePolicy -KeyId $KeyId -Region $Region
        $sample = Protect-EnclaveFile -LiteralPath $SampleImage -KeyId $KeyId -Region $Region -Destination (Join-Path $work 'sample.enc')
    }

    It 'pins the image''s PCR0' {
        $pinned = $policy.Conditions | Where-Object { $_.Effect -eq 'Deny' -and $_.ConditionKey -eq 'kms:RecipientAttestation:PCR0' }
        $pinned.Values | Should -Contain $pcrs.PCR0
    }

    It 'denies the parent''s own decrypt' {
        { Unprotect-EnclaveFile -LiteralPath $sample.Destination -Destination (Join-Path $work 'sample.jpg') -Region $Region -ErrorAction Stop } |
            Should -Throw -ErrorId 'KmsAccessDenied*'
        Test-Path (Join-Path $work 'sample.jpg') | Should -BeFalse
    }

    It 'admits the enclave: a sample detection works' {
        $detection = Invoke-EnclaveDetection -LiteralPath $sample.Destination @target -Region $Region
        $detection.ImageWidth | Should -BeGreaterThan 0
        $detection.Model | Should -Not -BeNullOrEmpty
    }
}
