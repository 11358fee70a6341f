#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# The module's views as a person reads them at 80 and 120 columns: the values that matter (PCRs, EnclaveID, key ARN,
# pinned measurements, paths) whole, tables that keep their header on one line, and ToString that reads well.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'KmsTestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $repoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    $attestationData = Join-Path $repoRoot 'tests/data/attestation'

    function Show-View {
        # The text a console that wide shows: the default view, or Format-List / Format-Table first.
        param([Parameter(Mandatory)] [AllowEmptyCollection()] [object[]] $InputObject, [Parameter(Mandatory)] [int] $Width, [ValidateSet('Default', 'List', 'Table')] [string] $As = 'Default')
        $text = switch ($As) {
            'List' { $InputObject | Format-List | Out-String -Width $Width }
            'Table' { $InputObject | Format-Table | Out-String -Width $Width }
            default { $InputObject | Out-String -Width $Width }
        }
        foreach ($line in $text -split '\r?\n') {
            $line.TrimEnd().Length | Should -BeLessOrEqual $Width -Because "every line fits $Width columns: '$line'"
        }
        $text | Should -Not -Match '…|\.\.\.' -Because 'no value is cut'
        $text
    }

    function Assert-ShownWhole {
        # Every value appears with all its characters: a list view may wrap a long value onto the next lines, so the
        # text is compared without white space.
        param([string] $Text, [string[]] $Value)
        $flat = $Text -replace '\s', ''
        foreach ($v in $Value) {
            $flat.Contains(($v -replace '\s', '')) | Should -BeTrue -Because "'$v' is shown whole in:`n$Text"
        }
    }

    function Assert-ShownOnOneLine {
        # At 120 columns a hash (96 digits), an EnclaveID or an ARN fits the value column of every list: one line.
        param([string] $Text, [string[]] $Value)
        foreach ($v in $Value) {
            @($Text -split '\r?\n' | Where-Object { $_.Contains($v) }).Count | Should -BeGreaterThan 0 -Because "'$v' is on one line in:`n$Text"
        }
    }
}

Describe 'Enclave image measurements' {
    BeforeAll {
        $eif = New-TestEif -Path (Join-Path $TestDrive 'app.eif')
        $measurements = Get-EnclavePcr -Path $eif.Path
        $image = Get-EnclaveImage -Path $eif.Path
        $hashes = $eif.PCR0, $eif.PCR1, $eif.PCR2
    }

    It 'Get-EnclavePcr shows PCR0, PCR1 and PCR2 whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $measurements -Width $_
        Assert-ShownWhole $text $hashes
        Assert-ShownWhole $text $eif.Path
        if ($_ -ge 120) { Assert-ShownOnOneLine $text $hashes }
    }

    It 'Get-EnclaveImage shows the PCRs whole and the sections at <_> columns' -ForEach 80, 120 {
        $text = Show-View $image -Width $_
        Assert-ShownWhole $text $hashes
        $text | Should -Match 'Sections\s+: Kernel:2000, Cmdline:13, Ramdisk:700, Ramdisk:3000'
        if ($_ -ge 120) { Assert-ShownOnOneLine $text $hashes }
    }

    It 'the sections table keeps its header on one line at 80 columns' {
        Show-View $image.Sections -Width 80 | Should -Match 'Index\s+Type\s+Offset\s+Size'
    }

    It 'ToString: the measurements read as PCR0 whole, the image as file, version and sections' {
        "$measurements" | Should -BeExactly "PCR0 $($eif.PCR0)"
        "$image" | Should -BeExactly 'app.eif: EIF version 4 x86_64, 4 sections'
        "$($image.Sections[0])" | Should -BeExactly '0: Kernel, 2000 bytes at 548'
    }
}

Describe 'Attestation documents and their verification' {
    BeforeAll {
        $path = Join-Path $attestationData 'enclave-2026-02-02.b64'
        $document = ConvertFrom-EnclaveAttestation -Path $path
        $valid = Test-EnclaveAttestation -Path $path -At ([DateTimeOffset]::new(2026, 2, 2, 20, 43, 47, 502, [TimeSpan]::Zero))
        $expired = Test-EnclaveAttestation -Path $path -At ([DateTimeOffset]::new(2026, 6, 1, 0, 0, 0, [TimeSpan]::Zero))
        # The measurements that identify the enclave, and PCR4 (the parent instance), which this document sets.
        $set = @($document.PcrHex.Keys | Where-Object { $document.PcrHex[$_] -match '[^0]' })
        $zero = @($document.PcrHex.Keys | Where-Object { $_ -gt 2 -and $set -notcontains $_ })
    }

    It 'ConvertFrom-EnclaveAttestation shows PCR0-2 and every set PCR whole, and names the all-zero ones, at <_> columns' -ForEach 80, 120 {
        $text = Show-View $document -Width $_
        foreach ($index in @(0, 1, 2) + $set | Select-Object -Unique) {
            Assert-ShownWhole $text ('PCR{0} {1}' -f $index, $document.PcrHex[$index])
        }
        Assert-ShownWhole $text ('all zero: ' + (($zero | ForEach-Object { "PCR$_" }) -join ' '))
        Assert-ShownWhole $text ([Convert]::ToHexString($document.UserData).ToLowerInvariant()), ([Convert]::ToHexString($document.Nonce).ToLowerInvariant())
        if ($_ -ge 120) { Assert-ShownOnOneLine $text ($set | ForEach-Object { $document.PcrHex[$_] }) }
    }

    It 'Test-EnclaveAttestation shows the PCRs whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $valid -Width $_
        Assert-ShownWhole $text ($set | ForEach-Object { $valid.Pcrs[$_] })
        $text | Should -Match 'IsValid\s+: True'
    }

    It 'the reasons of a failed verification are whole at <_> columns' -ForEach 80, 120 {
        $expired.IsValid | Should -BeFalse
        Assert-ShownWhole (Show-View $expired -Width $_) $expired.Failures.Reason
        $table = Show-View $expired.Failures -Width $_
        $table | Should -Match 'Rule\s+Reason'
        Assert-ShownWhole $table $expired.Failures.Reason
    }

    It 'the certificate chain table shows every subject whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $valid.Chain -Width $_
        $text | Should -Match 'NotBefore\s+NotAfter\s+Subject'
        Assert-ShownWhole $text $valid.Chain.Subject
    }

    It 'ToString: a document reads as its module id and time' {
        "$document" | Should -BeExactly "$($document.ModuleId) at 2026-02-02 20:43:47Z"
    }
}

Describe 'Enclaves' {
    BeforeAll {
        # The nitro-cli test double prints the documented JSON, with EnclaveIDs as long as real ones (39 characters).
        $savedPath = $env:PATH
        $env:PATH = (Join-Path $repoRoot 'tests/data/fake-nitro-cli') + [System.IO.Path]::PathSeparator + $env:PATH
        $env:FAKE_NITRO_CLI_STATE = Join-Path $TestDrive 'nitro-cli'
        $eif = Join-Path $TestDrive 'app.eif'
        [System.IO.File]::WriteAllBytes($eif, [byte[]]::new(5MB + 1))
        $null = Start-Enclave -ImagePath $eif -Name 'model' -Cid 20 -DebugMode
        $null = Start-Enclave -ImagePath $eif -Name 'second'
        $enclaves = Get-Enclave
    }

    AfterAll {
        $env:PATH = $savedPath
        Remove-Item Env:FAKE_NITRO_CLI_STATE -ErrorAction SilentlyContinue
    }

    It 'Get-Enclave shows the EnclaveID and the PCRs whole at <_> columns' -ForEach 80, 120 {
        $enclaves.EnclaveID | ForEach-Object { $_.Length | Should -Be 39 }
        $text = Show-View $enclaves -Width $_
        Assert-ShownOnOneLine $text $enclaves.EnclaveID
        Assert-ShownWhole $text $enclaves.Measurements.PCR0
        $text | Should -Match 'Flags\s+: DEBUG_MODE'
        if ($_ -ge 120) { Assert-ShownOnOneLine $text $enclaves.Measurements.PCR0 }
    }

    It 'Get-Enclave | Format-Table keeps one enclave a line with the EnclaveID whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $enclaves -Width $_ -As Table
        $text | Should -Match 'Name\s+EnclaveID\s+CID\s+State\s+Flags'
        foreach ($enclave in $enclaves) {
            $text | Should -Match ('{0}\s+{1}\s+{2}\s+RUNNING\s+{3}' -f $enclave.EnclaveName, $enclave.EnclaveID, $enclave.EnclaveCID, $enclave.Flags)
        }
    }

    It 'ToString: an enclave reads as name, EnclaveID whole, CID, state and debug mode' {
        "$($enclaves[0])" | Should -BeExactly "model $($enclaves[0].EnclaveID) (CID 20, RUNNING, debug mode)"
    }

    It 'ToString: the measurements inside an enclave read as PCR0 whole (Format-List *)' {
        $text = $enclaves[0] | Format-List * | Out-String -Width 120
        $text | Should -Match ('Measurements\s+: PCR0 ' + $enclaves[0].Measurements.PCR0)
    }

    It 'Stop-Enclave shows the EnclaveIDs whole at 80 columns' {
        $stopped = $enclaves | Stop-Enclave -Force
        $text = Show-View $stopped -Width 80
        $text | Should -Match 'Name\s+EnclaveID\s+Terminated'
        Assert-ShownOnOneLine $text $enclaves.EnclaveID
        "$($stopped[0])" | Should -BeExactly "model $($enclaves[0].EnclaveID) terminated"
    }
}

Describe 'Allocator settings' {
    BeforeAll {
        $path = Join-Path $TestDrive 'allocator.yaml'
        Set-Content -Path $path -Value "memory_mib: 512`ncpu_pool: 1"
        $settings = Get-EnclaveAllocator -Path $path -SysRoot (New-FakeSysTree -Root (Join-Path $TestDrive 'root'))
    }

    It 'shows every finding whole at <_> columns' -ForEach 80, 120 {
        $settings.Findings | Should -Not -BeNullOrEmpty
        Assert-ShownWhole (Show-View $settings -Width $_) $settings.Findings.Message
        $table = Show-View $settings.Findings -Width $_
        $table | Should -Match 'Severity\s+ErrorId\s+Message'
        Assert-ShownWhole $table $settings.Findings.Message
    }

    It 'ToString: the settings read as path, values and the number of findings' {
        "$settings" | Should -BeExactly ('{0}: memory_mib 512, cpu_pool 1, {1} finding{2}' -f $path, $settings.Findings.Count, $(if ($settings.Findings.Count -eq 1) { '' } else { 's' }))
    }
}

Describe 'Local KMS and key policies' {
    BeforeAll {
        $kms = Start-LocalKms -Port 0 -DataPath (Join-Path $TestDrive 'kms')
        $parentArn = 'arn:aws:iam::111122223333:role/Parent'
        $principal = $kms | Add-LocalKmsPrincipal -Arn $parentArn
        $aws = @{ EndpointUrl = $kms.Endpoint.ToString(); Credential = $kms.Credential; Region = $kms.Region }
        $eif = New-TestEif -Path (Join-Path $TestDrive 'app.eif')
        $keyId = (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.KeyId
        Get-EnclavePcr -Path $eif.Path | Set-KmsEnclavePolicy -KeyId $keyId -Principal $parentArn @aws -Confirm:$false
        $policy = Get-KmsEnclavePolicy -KeyId $keyId @aws
        $pinned = [ordered]@{ ImageSha384 = $eif.PCR0; PCR0 = $eif.PCR0; PCR1 = $eif.PCR1; PCR2 = $eif.PCR2 }
    }

    AfterAll {
        if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
    }

    It 'Start-LocalKms and Add-LocalKmsPrincipal show endpoint, ARN and data path whole, never the secret, at <_> columns' -ForEach 80, 120 {
        $text = Show-View $kms -Width $_
        Assert-ShownWhole $text $kms.Endpoint.ToString(), $kms.DataPath, $kms.AccessKey
        $text | Should -Not -Match ([regex]::Escape($kms.Credential.GetCredentials().SecretKey))
        $text = Show-View $principal -Width $_
        Assert-ShownWhole $text $parentArn, $principal.DataPath, $principal.AccessKey
        $text | Should -Not -Match ([regex]::Escape($principal.Credential.GetCredentials().SecretKey))
    }

    It 'Add-LocalKmsRole shows the role, who may assume it and the data path whole at <_> columns' -ForEach 80, 120 {
        $role = $kms | Add-LocalKmsRole -Arn 'arn:aws:iam::111122223333:role/admins/KeyAdmin' -TrustedPrincipal 'arn:aws:iam::111122223333:user/admin', $parentArn -WebIdentitySubject 'system:serviceaccount:default:workload'
        $text = Show-View $role -Width $_
        Assert-ShownWhole $text $role.Arn, 'arn:aws:iam::111122223333:user/admin', $parentArn, 'system:serviceaccount:default:workload', $role.DataPath
    }

    It 'Get-KmsEnclavePolicy shows the key ARN and every pinned measurement whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $policy -Width $_
        Assert-ShownWhole $text $policy.KeyArn
        foreach ($name in $pinned.Keys) {
            Assert-ShownWhole $text ('{0}:{1}' -f $name, $pinned[$name])
        }
        Assert-ShownWhole $text 'Allow NitroEnclaveAllowAttestedDecrypt: ImageSha384, PCR0, PCR1, PCR2 (StringEqualsIgnoreCase)'
        if ($_ -ge 120) {
            Assert-ShownOnOneLine $text $policy.KeyArn
            foreach ($name in $pinned.Keys) { $text | Should -Match ('(?m)^{0}\s+: {1}\s*$' -f $name, $pinned[$name]) }
        }
    }

    It 'the conditions show principals, key and values whole at <_> columns' -ForEach 80, 120 {
        $allow = $policy.Conditions | Where-Object Effect -EQ 'Allow'
        $text = Show-View $allow -Width $_
        Assert-ShownWhole $text $parentArn, 'kms:RecipientAttestation:PCR0', $eif.PCR0, $eif.PCR1, $eif.PCR2
    }

    It 'ToString: a policy reads as its key ARN and the measurements it conditions on; a condition with its values whole' {
        "$policy" | Should -BeExactly "$($policy.KeyArn) (conditions on ImageSha384, PCR0, PCR1, PCR2)"
        $pcr0 = $policy.Conditions | Where-Object { $_.Effect -eq 'Allow' -and $_.ConditionKey -eq 'kms:RecipientAttestation:PCR0' }
        "$pcr0" | Should -BeExactly "Allow NitroEnclaveAllowAttestedDecrypt: kms:RecipientAttestation:PCR0 StringEqualsIgnoreCase $($eif.PCR0)"
    }
}

Describe 'The simulation: files, detection and attestation' {
    BeforeAll {
        $simulation = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
        $work = Join-Path $TestDrive 'files'
        $null = New-Item -ItemType Directory -Path $work
        $plain = Join-Path $work 'air-show.jpg'
        Copy-Item -LiteralPath (Join-Path $repoRoot 'tests/data/detection/air-show.jpg') -Destination $plain
        $dataOwner = $simulation.DataOwnerCredential
        $protected = Protect-EnclaveFile -LiteralPath $plain -EncryptionContext @{ project = 'survey' } -Credential $dataOwner
        # The data owner may decrypt while the key is not pinned (the pinned Deny applies to everyone), then pins it again.
        Set-KmsEnclavePolicy -Remove -Force -Credential $dataOwner
        $unprotected = $protected | Unprotect-EnclaveFile -Destination (Join-Path $work 'back.jpg') -Credential $dataOwner
        Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal $simulation.ParentArn -Force -Credential $dataOwner
        $detection = Invoke-EnclaveDetection -LiteralPath $protected.Destination
        $confidential = Invoke-EnclaveDetection -LiteralPath $protected.Destination -ResultKeyId $simulation.ResultKeyAlias -Annotate
        $attestation = Get-EnclaveAttestation
        # What the views summarise: each label with its count, in the order first found.
        $counts = [ordered]@{}
        foreach ($object in $detection.Objects) { $counts[$object.Label] = 1 + [int]$counts[$object.Label] }
        $found = ($counts.Keys | ForEach-Object { '{0} x{1}' -f $_, $counts[$_] }) -join ', '
    }

    AfterAll {
        Stop-EnclaveSimulation -ErrorAction SilentlyContinue
    }

    It 'Start-EnclaveSimulation shows key ARN, principals, PCRs, root certificate and logs whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $simulation -Width $_
        Assert-ShownWhole $text $simulation.DataOwnerArn, $simulation.ParentArn, $simulation.ResultKeyAlias, $simulation.ResultKeyArn
        Assert-ShownWhole $text $simulation.KeyArn, $simulation.Pcrs.PCR0, $simulation.Pcrs.PCR1, $simulation.Pcrs.PCR2, $simulation.RootCertificatePath
        Assert-ShownWhole $text $simulation.LogFiles
        if ($_ -ge 120) { Assert-ShownOnOneLine $text $simulation.KeyArn, $simulation.Pcrs.PCR0 }
    }

    It 'ToString: the simulation reads as its endpoints and key, never the secret' {
        "$simulation" | Should -BeExactly "enclave $($simulation.EnclaveEndpoint), KMS $($simulation.KmsEndpoint), key alias/nitroenclave-simulation"
        "$simulation" | Should -Not -Match ([regex]::Escape($simulation.Credential.GetCredentials().SecretKey))
        "$simulation" | Should -Not -Match ([regex]::Escape($simulation.DataOwnerCredential.GetCredentials().SecretKey))
    }

    It 'Protect-EnclaveFile and Unprotect-EnclaveFile show paths, key ARN, suite and context whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $protected -Width $_
        Assert-ShownWhole $text $plain, $protected.Destination, $simulation.KeyArn, $protected.Suite.ToString(), 'project=survey'
        $text = Show-View $unprotected -Width $_
        Assert-ShownWhole $text $unprotected.Destination, $simulation.KeyArn, 'EncryptionSdkMessage', 'project=survey'
        if ($_ -ge 120) { Assert-ShownOnOneLine $text $simulation.KeyArn }
    }

    It 'Format-Table of files keeps one file a line with the destination whole at <_> columns' -ForEach 80, 120 {
        $text = Show-View $protected, $unprotected -Width $_ -As Table
        $text | Should -Match 'Source\s+PlaintextBytes\s+Destination'
        Assert-ShownWhole $text $protected.Destination, $unprotected.Destination
    }

    It 'ToString: a file written reads as its path, so it works where a path is expected' {
        "$protected" | Should -BeExactly $protected.Destination
        "$unprotected" | Should -BeExactly $unprotected.Destination
    }

    It 'Invoke-EnclaveDetection keeps its table header on one line and summarises the objects at <_> columns' -ForEach 80, 120 {
        $detection.Objects | Should -Not -BeNullOrEmpty
        $text = Show-View $detection -Width $_
        $text | Should -Match 'File\s+Objects\s+Image\s+Enclave ms\s+Found'
        $text | Should -Match ('air-show\.jpg\.enc\s+{0}\s+{1}x{2}' -f $detection.Objects.Count, $detection.ImageWidth, $detection.ImageHeight)
        Assert-ShownWhole $text $found
    }

    It 'Format-List shows every detected object with its label, score and box at <_> columns' -ForEach 80, 120 {
        $text = Show-View $detection -Width $_ -As List
        Assert-ShownWhole $text $protected.Destination
        foreach ($object in $detection.Objects) {
            Assert-ShownWhole $text ('{0} {1:0.00} {2}' -f $object.Label, $object.Score, $object.PixelBox)
        }
    }

    It 'the objects table shows label, score and both boxes whole at 80 columns' {
        $text = Show-View $detection.Objects -Width 80
        $text | Should -Match 'Label\s+Score\s+Pixels\s+Box \(normalised\)'
        foreach ($object in $detection.Objects) {
            $text | Should -Match ('{0}\s+{1:0.00}\s+{2}\s+{3}' -f $object.Label, $object.Score, [regex]::Escape($object.PixelBox), [regex]::Escape($object.Box))
        }
    }

    It 'Objects inside the result (Format-List *, Select-Object) read as labels, not as {5, 5, 5}' {
        $all = $detection | Format-List * | Out-String -Width 120
        $all | Should -Match ('Objects\s+: \{{{0} \d\.\d\d \(' -f $detection.Objects[0].Label)
        $selected = $detection | Select-Object Path, Objects | Format-List | Out-String -Width 120
        $selected | Should -Match ('Objects : \{{{0} ' -f $detection.Objects[0].Label)
    }

    It 'ToString: a result reads as file, count and labels; an object as label, score and pixel box' {
        $count = $detection.Objects.Count
        "$detection" | Should -BeExactly ('air-show.jpg.enc: {0} object{1} ({2})' -f $count, $(if ($count -eq 1) { '' } else { 's' }), $found)
        $first = $detection.Objects[0]
        "$first" | Should -BeExactly ('{0} {1} {2}' -f $first.Label, $first.Score.ToString('0.00', [cultureinfo]::InvariantCulture), $first.PixelBox)
    }

    It 'a confidential result shows its files whole and nothing of the detection at <_> columns' -ForEach 80, 120 {
        $table = Show-View $confidential -Width $_
        $table | Should -Match 'Image\s+Enclave ms\s+Result \(encrypted\)'
        Assert-ShownWhole $table 'air-show.jpg', 'air-show.jpg.result.enc, air-show.jpg.annotated.jpg.enc'
        $list = Show-View $confidential -Width $_ -As List
        Assert-ShownWhole $list $confidential.Path, $confidential.ResultPath, $confidential.AnnotatedImagePath
        foreach ($text in $table, $list) {
            $text | Should -Not -Match ('{0}|{1}x{2}' -f $detection.Objects[0].Label, $detection.ImageWidth, $detection.ImageHeight)
        }
    }

    It 'ToString: a confidential result reads as the image and its result files' {
        "$confidential" | Should -BeExactly 'air-show.jpg: confidential result in air-show.jpg.result.enc and air-show.jpg.annotated.jpg.enc'
    }

    It 'Get-EnclaveAttestation shows the nonce whole and reads as size and endpoint' {
        $nonce = [Convert]::ToHexString($attestation.Nonce).ToLowerInvariant()
        Assert-ShownOnOneLine (Show-View $attestation -Width 80) $nonce
        "$attestation" | Should -BeLike "$($attestation.Document.Length)-byte attestation document from $($simulation.EnclaveEndpoint) at *Z"
    }
}
