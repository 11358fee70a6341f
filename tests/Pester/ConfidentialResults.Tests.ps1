#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

# Confidential results through the cmdlets, in the simulation: the enclave encrypts its result (and the annotated
# image) to a result key whose policy lets only the data owner decrypt; the parent sees only that a result exists.
# The simulation has two principals: the parent, whose credentials the session defaults hold and the enclave uses,
# and the data owner ($sim.DataOwnerCredential), who encrypts the input and reads the results; a third principal of
# the same account plays someone the result key's policy does not name.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'KmsTestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force

    function Get-JpegSize([string] $Path) {
        # Width and height from the first start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC).
        $bytes = [System.IO.File]::ReadAllBytes($Path)
        if ($bytes[0] -ne 0xFF -or $bytes[1] -ne 0xD8) { throw "$Path is not a JPEG" }
        $i = 2
        while ($i + 9 -lt $bytes.Length) {
            if ($bytes[$i] -ne 0xFF) { throw "$Path has no marker at $i" }
            $marker = $bytes[$i + 1]
            $length = $bytes[$i + 2] * 256 + $bytes[$i + 3]
            if ($marker -ge 0xC0 -and $marker -le 0xCF -and $marker -notin 0xC4, 0xC8, 0xCC) {
                return [pscustomobject]@{ Width = $bytes[$i + 7] * 256 + $bytes[$i + 8]; Height = $bytes[$i + 5] * 256 + $bytes[$i + 6] }
            }
            $i += 2 + $length
        }
        throw "$Path has no frame header"
    }

    $sim = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
    $owner = $sim.DataOwnerCredential
    $kms = [pscustomobject]@{ Endpoint = [uri]$sim.KmsEndpoint; Region = $sim.Region; Credential = $owner }
    $account = ($sim.KeyArn -split ':')[4]
    $outsider = Add-LocalKmsPrincipal -DataPath (Join-Path $sim.DataPath 'kms') -Arn "arn:aws:iam::${account}:role/Outsider"
    $pcrs = Get-EnclavePcr -Simulation

    # A result key of the data owner's, for the parent's credentials in the enclave with these measurements.
    function New-ResultKey($Measurements) {
        $arn = (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.Arn
        $Measurements | Set-KmsEnclavePolicy -KeyId $arn -ResultKey -Principal $sim.ParentArn -DataOwner $sim.DataOwnerArn -Credential $owner -Confirm:$false
        $arn
    }

    # The simulation's result key, pinned to the simulated enclave by the data owner.
    $resultKey = $sim.ResultKeyArn
    $inputs = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'in')
    $plain = Join-Path $inputs 'air-show.jpg'
    Copy-Item (Join-Path $PSScriptRoot '../data/detection/air-show.jpg') $plain
    $encrypted = (Protect-EnclaveFile -LiteralPath $plain -Credential $owner).Destination
    $parentView = Invoke-EnclaveDetection -LiteralPath $encrypted -ResultKeyId $resultKey -Annotate
}

AfterAll {
    Stop-EnclaveSimulation -ErrorAction SilentlyContinue
}

Describe 'Invoke-EnclaveDetection -ResultKeyId' {
    It 'writes the encrypted result and annotated image beside the input' {
        $parentView.ResultPath | Should -Be (Join-Path $inputs 'air-show.jpg.result.enc')
        $parentView.AnnotatedImagePath | Should -Be (Join-Path $inputs 'air-show.jpg.annotated.jpg.enc')
        $parentView.ResultPath | Should -Exist
        $parentView.AnnotatedImagePath | Should -Exist
    }

    It 'gives the parent the result path, the image name and the timings, and no detection' {
        $parentView.GetType().FullName | Should -Be 'NitroEnclave.Protocol.ConfidentialDetectionResult'
        $parentView.ImageName | Should -Be 'air-show.jpg'
        $parentView.Timings['total'] | Should -BeGreaterThan 0
        $parentView.Timings['encrypt'] | Should -BeGreaterThan 0
        $names = $parentView.PSObject.Properties.Name
        foreach ($detection in 'Objects', 'ImageWidth', 'ImageHeight') { $names | Should -Not -Contain $detection }
        $shown = ($parentView | Format-Table | Out-String) + ($parentView | Format-List | Out-String) + ($parentView | Format-List * | Out-String) + "$parentView"
        $shown | Should -Match 'air-show\.jpg\.result\.enc'
        $shown.Replace("$TestDrive", '') | Should -Not -Match 'airplane|3994|3235'
        [System.Text.Encoding]::Latin1.GetString([System.IO.File]::ReadAllBytes($parentView.ResultPath)) | Should -Not -Match 'airplane'
    }

    It 'writes into -ResultPath, and a request that cannot be encrypted leaves the good files as they were' {
        $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'results')
        $written = Invoke-EnclaveDetection -LiteralPath $encrypted -ResultKeyId $resultKey -ResultPath $folder
        $written.ResultPath | Should -Be (Join-Path $folder 'air-show.jpg.result.enc')
        $written.AnnotatedImagePath | Should -BeNullOrEmpty
        $before = (Get-FileHash $written.ResultPath).Hash

        $otherEnclave = [pscustomobject]@{ PCR0 = 'ab' * 48; PCR1 = $pcrs.PCR1; PCR2 = $pcrs.PCR2 }
        $denyingKey = New-ResultKey $otherEnclave
        $again = Invoke-EnclaveDetection -LiteralPath $encrypted -ResultKeyId $denyingKey -ResultPath $folder -Annotate -ErrorVariable problems -ErrorAction SilentlyContinue

        $again | Should -BeNullOrEmpty
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'EnclaveKmsAccessDenied*'
        (Get-FileHash $written.ResultPath).Hash | Should -Be $before
        (Get-ChildItem -Force $folder).Name | Should -Be @('air-show.jpg.result.enc')
    }

    It 'refuses to write two inputs of the same name to one -ResultPath' {
        $second = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'second')
        Copy-Item $encrypted $second
        $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'shared-results')

        $written = Invoke-EnclaveDetection -LiteralPath $encrypted, (Join-Path $second 'air-show.jpg.enc') -ResultKeyId $resultKey -ResultPath $folder -ErrorVariable problems -ErrorAction SilentlyContinue

        @($written).Count | Should -Be 1
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'DestinationConflict*'
        (Get-ChildItem -Force $folder).Name | Should -Be @('air-show.jpg.result.enc')
    }

    It 'follows the data owner''s pin: an input that names its result key gets no open result and no other key' {
        $pinnedFolder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'pinned')
        $pinnedPlain = Join-Path $pinnedFolder 'air-show.jpg'
        Copy-Item $plain $pinnedPlain
        $pinned = (Protect-EnclaveFile -LiteralPath $pinnedPlain -EncryptionContext @{ 'nitroenclave:result-key' = $resultKey } -Credential $owner).Destination
        $parent = [pscustomobject]@{ Endpoint = [uri]$sim.KmsEndpoint; Region = $sim.Region; Credential = $sim.Credential }
        $parentsOwnKey = (Invoke-TestKms -Kms $parent -Operation CreateKey).Body.KeyMetadata.Arn

        Invoke-EnclaveDetection -LiteralPath $pinned -ErrorVariable open -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Invoke-EnclaveDetection -LiteralPath $pinned -ResultKeyId $parentsOwnKey -ErrorVariable other -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $kept = Invoke-EnclaveDetection -LiteralPath $pinned -ResultKeyId $resultKey

        $open[0].FullyQualifiedErrorId | Should -BeLike 'EnclaveConfidentialResultRequired*'
        $other[0].FullyQualifiedErrorId | Should -BeLike 'EnclaveConfidentialResultRequired*'
        ($kept | Unprotect-EnclaveDetectionResult -Credential $owner).Objects.Count | Should -Be 5
    }

    It 'refuses -Annotate and -ResultPath without -ResultKeyId, and a key id KMS would not accept' {
        { Invoke-EnclaveDetection -LiteralPath $encrypted -Annotate -ErrorAction Stop } | Should -Throw -ErrorId 'ConfidentialResultOptionInvalid*'
        { Invoke-EnclaveDetection -LiteralPath $encrypted -ResultPath $TestDrive -ErrorAction Stop } | Should -Throw -ErrorId 'ConfidentialResultOptionInvalid*'
        { Invoke-EnclaveDetection -LiteralPath $encrypted -ResultKeyId 'results key' -ErrorAction Stop } | Should -Throw -ErrorId 'ConfidentialResultOptionInvalid*'
    }
}

Describe 'Unprotect-EnclaveDetectionResult' {
    It 'denies the parent (the session defaults) its decrypt of the result' {
        $result = $parentView | Unprotect-EnclaveDetectionResult -ErrorVariable problems -ErrorAction SilentlyContinue

        $result | Should -BeNullOrEmpty
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'KmsAccessDenied*'
    }

    It 'denies someone the result key''s policy does not allow' {
        $result = Unprotect-EnclaveDetectionResult -LiteralPath $parentView.ResultPath -Credential $outsider.Credential -ErrorVariable problems -ErrorAction SilentlyContinue

        $result | Should -BeNullOrEmpty
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'KmsAccessDenied*'
    }

    It 'gives the data owner the five airplanes of air-show.jpg as the open mode''s object' {
        $result = $parentView | Unprotect-EnclaveDetectionResult -Credential $owner

        $result.GetType().FullName | Should -Be 'NitroEnclave.Protocol.EnclaveDetectionResult'
        $result.Objects.Count | Should -Be 5
        $result.Objects.Label | Sort-Object -Unique | Should -Be 'airplane'
        ($result.ImageWidth, $result.ImageHeight) | Should -Be @(3994, 3235)
        $result.InputName | Should -Be 'air-show.jpg.enc'
        $result.InputSha256 | Should -Be (Get-FileHash -Algorithm SHA256 $encrypted).Hash.ToLowerInvariant()
        ($result | Format-Table | Out-String) | Should -Match 'airplane x5'
        $annotated = $result | Export-EnclaveDetectionImage -ImagePath $plain -Destination (Join-Path $TestDrive 'owner.jpg') -PassThru
        $annotated.Length | Should -BeGreaterThan 0
    }

    It 'decrypts the annotated image to a JPEG of the input''s size' {
        $jpeg = (Unprotect-EnclaveFile -LiteralPath $parentView.AnnotatedImagePath -Destination (Join-Path $TestDrive 'annotated.jpg') -Credential $owner).Destination

        $size = Get-JpegSize $jpeg
        ($size.Width, $size.Height) | Should -Be @(3994, 3235)
    }

    It 'refuses a result file renamed to another image''s' {
        $renamed = Join-Path $TestDrive 'in/other.jpg.result.enc'
        Copy-Item $parentView.ResultPath $renamed

        Unprotect-EnclaveDetectionResult -LiteralPath $renamed -Credential $owner -ErrorVariable problems -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'ConfidentialResultMismatch*'
    }
}
