#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force

    # Synthetic nitro-cli blobs and a small server folder: the real blobs are not on test machines.
    function New-TestImageInputs([string] $Root) {
        $blobs = New-Item -ItemType Directory -Path (Join-Path $Root 'blobs') -Force
        $server = New-Item -ItemType Directory -Path (Join-Path $Root 'server/models') -Force
        [IO.File]::WriteAllBytes((Join-Path $blobs 'bzImage'), [byte[]](1..200 | ForEach-Object { $_ % 251 }))
        Set-Content -Path (Join-Path $blobs 'bzImage.config') -Value '#', '# Automatically generated file; DO NOT EDIT.', '# Linux/x86_64 6.1.102 Kernel Configuration'
        Set-Content -Path (Join-Path $blobs 'cmdline') -Value 'reboot=k panic=30 pci=off nomodules console=ttyS0'
        [IO.File]::WriteAllBytes((Join-Path $blobs 'init'), [byte[]](1..100))
        [IO.File]::WriteAllBytes((Join-Path $blobs 'nsm.ko'), [byte[]](1..50))
        [IO.File]::WriteAllBytes((Join-Path $server '../EnclaveHost'), [byte[]](1..80))
        [IO.File]::WriteAllBytes((Join-Path $server 'detector.onnx'), [byte[]](1..120))
        [pscustomobject]@{ Blobs = $blobs.FullName; Server = (Split-Path $server.FullName -Parent) }
    }

    # PCR = SHA384(48 zero bytes || SHA384(data)), without the module.
    function Get-Extend([byte[]] $Data) {
        $sha = [Security.Cryptography.SHA384]::Create()
        $inner = $sha.ComputeHash($Data)
        ($sha.ComputeHash([byte[]]((, 0) * 48 + $inner)) | ForEach-Object { $_.ToString('x2') }) -join ''
    }
}

Describe 'New-EnclaveImage -Reproducible' {
    BeforeAll {
        $inputs = New-TestImageInputs -Root $TestDrive
        $env:SOURCE_DATE_EPOCH = '1700000000'
        $first = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'first.eif')
        $second = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'second.eif')
    }

    AfterAll {
        Remove-Item Env:SOURCE_DATE_EPOCH -ErrorAction SilentlyContinue
    }

    It 'builds without Docker or nitro-cli and returns what Get-EnclavePcr returns' {
        $first.PSObject.TypeNames | Should -Contain 'NitroEnclave.Eif.EnclaveMeasurements'
        $pcr = Get-EnclavePcr -Path (Join-Path $TestDrive 'first.eif')
        $first.PCR0 | Should -Be $pcr.PCR0
        $first.PCR1 | Should -Be $pcr.PCR1
        $first.PCR2 | Should -Be $pcr.PCR2
        $first.PCR8 | Should -BeNullOrEmpty
    }

    It 'gives byte-identical images for the same inputs' {
        (Get-FileHash (Join-Path $TestDrive 'first.eif')).Hash | Should -Be (Get-FileHash (Join-Path $TestDrive 'second.eif')).Hash
    }

    It 'measures the kernel and command line into PCR1 as an independent computation does' {
        $kernel = [IO.File]::ReadAllBytes((Join-Path $inputs.Blobs 'bzImage'))
        $image = [IO.File]::ReadAllBytes((Join-Path $TestDrive 'first.eif'))
        $cmdline = [Text.Encoding]::ASCII.GetBytes('reboot=k panic=30 pci=off nomodules console=ttyS0')
        $sections = Get-EnclaveImage -Path (Join-Path $TestDrive 'first.eif') | Select-Object -ExpandProperty Sections
        $bootstrap = $sections | Where-Object Type -EQ Ramdisk | Select-Object -First 1
        $ramdisk = $image[($bootstrap.Offset + 12)..($bootstrap.Offset + 11 + $bootstrap.Size)]
        $first.PCR1 | Should -Be (Get-Extend ([byte[]]($kernel + $cmdline + $ramdisk)))
    }

    It 'takes the build time from SOURCE_DATE_EPOCH' {
        (Get-EnclaveImage -Path (Join-Path $TestDrive 'first.eif')).BuildMetadata.BuildTime | Should -Be '2023-11-14T22:13:20+00:00'
    }

    It 'changes PCR2, not PCR1, when a model byte changes' {
        $changed = Join-Path $TestDrive 'changed'
        Copy-Item -Path $inputs.Server -Destination $changed -Recurse
        $model = Join-Path $changed 'models/detector.onnx'
        $bytes = [IO.File]::ReadAllBytes($model); $bytes[5] = 0xFF; [IO.File]::WriteAllBytes($model, $bytes)
        $other = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $changed -OutputPath (Join-Path $TestDrive 'changed.eif')
        $other.PCR1 | Should -Be $first.PCR1
        $other.PCR2 | Should -Not -Be $first.PCR2
    }

    It 'signs the image with -SigningCertificate and -SigningKey, setting PCR8' {
        $key = [Security.Cryptography.ECDsa]::Create([Security.Cryptography.ECCurve+NamedCurves]::nistP384)
        $request = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=operator', $key, 'SHA384')
        $certificate = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(30))
        Set-Content -Path (Join-Path $TestDrive 'signer.pem') -Value $certificate.ExportCertificatePem()
        Set-Content -Path (Join-Path $TestDrive 'signer.key') -Value $key.ExportECPrivateKeyPem()
        $signed = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'signed.eif') `
            -SigningCertificate (Join-Path $TestDrive 'signer.pem') -SigningKey (Join-Path $TestDrive 'signer.key')
        $signed.PCR8 | Should -Be (Get-Extend $certificate.RawData)
        $signed.PCR0 | Should -Be $first.PCR0
    }

    It 'names a missing blob with EnclaveImageBlobMissing' {
        $empty = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'noblobs')
        { New-EnclaveImage -Reproducible -BlobPath $empty -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'x.eif') -ErrorAction Stop } |
            Should -Throw -ErrorId 'EnclaveImageBlobMissing*'
    }

    It 'writes nothing under -WhatIf' {
        New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath (Join-Path $TestDrive 'whatif.eif') -WhatIf
        Join-Path $TestDrive 'whatif.eif' | Should -Not -Exist
    }

    It 'keeps the Docker parameter set as it was' {
        (Get-Command New-EnclaveImage).DefaultParameterSet | Should -Be 'Docker'
        (Get-Command New-EnclaveImage).Parameters['DockerUri'].ParameterSets.Keys | Should -Be 'Docker'
    }
}

Describe 'Test-EnclaveImage' {
    BeforeAll {
        $inputs = New-TestImageInputs -Root $TestDrive
        $image = Join-Path $TestDrive 'rebuilt.eif'
        $deployed = New-EnclaveImage -Reproducible -BlobPath $inputs.Blobs -ServerPath $inputs.Server -OutputPath $image
    }

    It 'says a rebuilt image matches the deployed measurements' {
        $result = Test-EnclaveImage -Path $image -Expected $deployed
        $result.Matches | Should -BeTrue
        $result.Measurements.Measurement | Should -Be 'PCR0', 'PCR1', 'PCR2'
    }

    It 'takes the expected measurements from the pipeline and from a hashtable' {
        ($deployed | Test-EnclaveImage -Path $image).Matches | Should -BeTrue
        (Test-EnclaveImage $image @{ PCR2 = $deployed.PCR2.ToUpperInvariant() }).Matches | Should -BeTrue
    }

    It 'reports each mismatch, as a result and a warning' {
        $wrong = 'ab' * 48
        $result = Test-EnclaveImage -Path $image -Expected @{ PCR0 = $deployed.PCR0; PCR1 = $wrong; PCR2 = $wrong; PCR8 = $wrong } -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Matches | Should -BeFalse
        $result.Mismatches.Measurement | Should -Be 'PCR1', 'PCR2', 'PCR8'
        $warnings | Should -HaveCount 3
        $warnings[0] | Should -BeLike "PCR1: expected $wrong*"
    }

    It 'shows each measurement, and a mismatch''s two values whole, at 120 columns' {
        $wrong = 'ab' * 48
        $text = Test-EnclaveImage -Path $image -Expected @{ PCR0 = $deployed.PCR0; PCR2 = $wrong } -WarningAction SilentlyContinue | Out-String -Width 120
        $text | Should -Match 'PCR0 matches'
        $lines = $text -split '\r?\n' | ForEach-Object Trim
        $at = [array]::IndexOf($lines, 'PCR2 DIFFERS, expected then actual:')
        $at | Should -BeGreaterThan 0
        $lines[$at + 1] | Should -Be $wrong
        $lines[$at + 2] | Should -Be $deployed.PCR2
    }

    It 'refuses an expected value that is not a SHA-384 with EnclaveImageExpectedInvalid' {
        { Test-EnclaveImage -Path $image -Expected @{ PCR0 = 'abc' } -ErrorAction Stop } | Should -Throw -ErrorId 'EnclaveImageExpectedInvalid*'
        { Test-EnclaveImage -Path $image -Expected @{ PCR3 = $deployed.PCR0 } -ErrorAction Stop } | Should -Throw -ErrorId 'EnclaveImageExpectedInvalid*'
    }
}

Describe 'The default reproducible image runs its server from its own root' {
    BeforeAll {
        $module = Split-Path (Get-TestModulePath) -Parent
        $image = Join-Path $TestDrive 'default.eif'
        $env:SOURCE_DATE_EPOCH = '1700000000'
        # No -ServerPath or -RootfsPath: the module's NativeAOT server and pinned system files, as the simulation measures them.
        $built = New-EnclaveImage -Reproducible -BlobPath (Join-Path $module 'simulation/blobs') -OutputPath $image
        $again = New-EnclaveImage -Reproducible -BlobPath (Join-Path $module 'simulation/blobs') -OutputPath (Join-Path $TestDrive 'again.eif')

        # The application ramdisk (the last Ramdisk section), unpacked as the kernel unpacks a newc initramfs.
        $root = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'ramdisk')
        $section = (Get-EnclaveImage -Path $image).Sections | Where-Object Type -EQ Ramdisk | Select-Object -Last 1
        $stream = [IO.File]::OpenRead($image)
        try {
            # Positions are relative to the archive: newc pads names and data to 4 bytes from its start.
            $base = [long]$section.Offset + 12
            $at = [long]0
            $header = [byte[]]::new(110)
            $entries = [Collections.Generic.List[object]]::new()
            while ($at -lt [long]$section.Size) {
                $stream.Position = $base + $at
                $stream.ReadExactly($header)
                $text = [Text.Encoding]::ASCII.GetString($header)
                $text.Substring(0, 6) | Should -Be '070701'
                $field = { param($i) [long][Convert]::ToUInt32($text.Substring(6 + 8 * $i, 8), 16) }
                $mode = & $field 1; $size = & $field 6; $nameSize = & $field 11
                $nameBytes = [byte[]]::new($nameSize - 1)
                $stream.ReadExactly($nameBytes)
                $name = [Text.Encoding]::UTF8.GetString($nameBytes)
                $data = [long][Math]::Ceiling(($at + 110 + $nameSize) / 4) * 4
                if ($name -eq 'TRAILER!!!') { break }
                $entries.Add([pscustomobject]@{ Name = $name; Mode = $mode; Size = $size })
                $path = Join-Path $root $name
                if (($mode -band 0xF000) -eq 0x4000) {
                    $null = New-Item -ItemType Directory -Path $path -Force
                } else {
                    $stream.Position = $base + $data
                    $out = [IO.File]::Create($path)
                    try { $buffer = [byte[]]::new(1MB); $left = $size; while ($left -gt 0) { $n = $stream.Read($buffer, 0, [Math]::Min($left, $buffer.Length)); $out.Write($buffer, 0, $n); $left -= $n } } finally { $out.Dispose() }
                }
                [IO.File]::SetUnixFileMode($path, [IO.UnixFileMode]($mode -band 0xFFF))
                $at = [long][Math]::Ceiling(($data + $size) / 4) * 4
            }
        } finally { $stream.Dispose() }

        $command = @(Get-Content -LiteralPath (Join-Path $root 'cmd'))
        $environment = @(Get-Content -LiteralPath (Join-Path $root 'env'))

        # The enclave's init chroots into rootfs/ after mounting devtmpfs, proc, sysfs and tmpfs on /dev, /proc, /sys,
        # /run and /tmp, then starts the command as its child with exactly the env file's variables. The same here, in
        # new user, mount, PID and network namespaces (unprivileged; /dev bound from the host, where devtmpfs cannot be
        # mounted), so the server sees nothing of this machine's libraries: one the root lacks fails its start.
        function Invoke-InEnclaveRoot([string[]] $Arguments, [scriptblock] $Until) {
            $rootfs = Join-Path $root 'rootfs'
            $script = 'r=$1; shift; mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" && mount -t sysfs sysfs "$r/sys" && mount -t tmpfs tmpfs "$r/tmp" && mount -t tmpfs tmpfs "$r/run" && /usr/bin/env -i "$@"'
            $start = [Diagnostics.ProcessStartInfo]::new('/usr/bin/unshare')
            foreach ($a in @('-r', '-m', '-p', '-f', '-n', '--kill-child', '/bin/sh', '-c', $script, 'init', $rootfs) + $environment + @('/usr/sbin/chroot', $rootfs) + $Arguments) { $start.ArgumentList.Add($a) }
            $start.Environment.Clear()
            $start.RedirectStandardOutput = $true
            $start.RedirectStandardError = $true
            $process = [Diagnostics.Process]::Start($start)
            $errors = $process.StandardError.ReadToEndAsync()
            try {
                $lines = [Collections.Generic.List[string]]::new()
                $closed = $false
                # A failure bound, not a timing assertion: the server is ready in a few seconds or has failed.
                $deadline = [DateTime]::UtcNow.AddMinutes(2)
                while ([DateTime]::UtcNow -lt $deadline) {
                    $read = $process.StandardOutput.ReadLineAsync()
                    if (-not $read.Wait(($deadline - [DateTime]::UtcNow))) { break }
                    if ($null -eq $read.Result) { $closed = $true; break }
                    $lines.Add($read.Result)
                    if ($Until -and (& $Until $read.Result)) { break }
                }
                # Output closed: the server has ended, and its exit is moments away.
                $exited = if ($closed) { $process.WaitForExit([TimeSpan]::FromMinutes(1)) } else { $process.HasExited }
                [pscustomobject]@{ Output = $lines; Exited = $exited; ExitCode = $(if ($exited) { $process.ExitCode }); Errors = $errors }
            } finally {
                if (-not $process.HasExited) { $process.Kill($true); $process.WaitForExit() }
                $process.Dispose()
            }
        }
    }

    AfterAll {
        Remove-Item Env:SOURCE_DATE_EPOCH -ErrorAction SilentlyContinue
    }

    It 'holds the NativeAOT server, ONNX Runtime, the model and only the listed system files, with the loader executable' {
        $files = $entries | Where-Object { ($_.Mode -band 0xF000) -eq 0x8000 }
        $files.Name | Where-Object { $_ -like 'rootfs/app/*' } | Should -Contain 'rootfs/app/EnclaveHost'
        $files.Name | Should -Contain 'rootfs/app/libonnxruntime.so'
        $files.Name | Should -Contain 'rootfs/app/models/ssdlite_mobilenet_v2_coco.onnx'
        $files.Name | Where-Object { $_ -like 'rootfs/app/*.pdb' -or $_ -like 'rootfs/app/*.dbg' } | Should -BeNullOrEmpty
        $system = $files.Name | Where-Object { $_ -notlike 'rootfs/app/*' -and $_ -like 'rootfs/*' } | ForEach-Object { $_.Substring(7) }
        $listed = Get-Content (Join-Path $PSScriptRoot '../../enclave/rootfs-packages.txt') | Where-Object { $_ -and $_ -notmatch '^\s*#' } |
            ForEach-Object { ($_ -split '\s+') | Select-Object -Skip 3 }
        $system | Sort-Object | Should -Be (@($listed) + 'rootfs-packages.txt' | Sort-Object)
        ($files | Where-Object Name -EQ 'rootfs/lib64/ld-linux-x86-64.so.2').Mode | Should -Be 0x81ED
        ($files | Where-Object Name -EQ 'rootfs/app/EnclaveHost').Mode | Should -Be 0x81ED
        ($entries | Where-Object { ($_.Mode -band 0xF000) -eq 0x4000 }).Name | Should -Contain 'rootfs/proc'
    }

    It 'is the same image on every build and records the pinned packages in its metadata' {
        (Get-FileHash $image).Hash | Should -Be (Get-FileHash (Join-Path $TestDrive 'again.eif')).Hash
        $pinned = Get-Content (Join-Path $PSScriptRoot '../../enclave/rootfs-packages.txt') | Where-Object { $_ -and $_ -notmatch '^\s*#' } |
            ForEach-Object { ($_ -split '\s+')[0..2] -join ' ' }
        $recorded = ((Get-EnclaveImage -Path $image).CustomMetadata | ConvertFrom-Json).RootfsPackages | ForEach-Object { "$($_.Package) $($_.Version) $($_.Sha256)" }
        $recorded | Should -Be $pinned
    }

    It 'starts the command its cmd file names, with its env file, and reports ready on a Unix socket' {
        $command[0] | Should -Be '/app/EnclaveHost'
        $environment | Should -Contain 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
        # vsock and /dev/nsm exist only in an enclave: the simulated module and a Unix socket instead. Starting loads
        # ONNX Runtime (the detector's warm-up), libstdc++ and OpenSSL (the first recipient key pair).
        $run = Invoke-InEnclaveRoot -Arguments @($command[0], 'serve', '--listen', 'unix:/tmp/enclave.sock', '--nsm', 'simulated', '--nsm-state', '/tmp/nsm', '--kms-endpoint', 'http://127.0.0.1:9') -Until { param($line) $line -like '{"event":"ready"*' }
        $ready = $run.Output | Where-Object { $_ -like '{"event":"ready"*' } | Select-Object -First 1
        $ready | Should -Not -BeNullOrEmpty -Because "the server's output was: $($run.Output -join "`n") $($run.Errors.Result)"
        $description = $ready | ConvertFrom-Json
        $description.endpoint | Should -Be 'unix:/tmp/enclave.sock'
        $description.kmsConfigured | Should -BeTrue
        # The log's ready event, once the server is stopped and its stderr closed, names the model it loaded.
        $run.Errors.Result | Should -Match '"event":"ready".*"model":"ssdlite_mobilenet_v2_coco"'
    }

    It 'runs the exact enclave command as far as the security module, which only an enclave has' {
        $run = Invoke-InEnclaveRoot -Arguments $command
        $run.Exited | Should -BeTrue
        $run.ExitCode | Should -Be 1
        $run.Errors.Result | Should -Match '"event":"startup-failed","code":"NsmDeviceNotFound"'
    }

    It 'fails to start when the root lacks <File>' -ForEach @(
        @{ File = 'libstdc++.so.6'; Path = 'usr/lib/x86_64-linux-gnu/libstdc++.so.6'; Says = 'libstdc\+\+\.so\.6' }
        @{ File = 'libssl.so.3'; Path = 'usr/lib/x86_64-linux-gnu/libssl.so.3'; Says = 'No usable version of libssl' }
    ) {
        $library = Join-Path $root "rootfs/$Path"
        Move-Item $library "$library.away"
        try {
            $run = Invoke-InEnclaveRoot -Arguments @($command[0], 'serve', '--listen', 'unix:/tmp/enclave.sock', '--nsm', 'simulated', '--nsm-state', '/tmp/nsm', '--kms-endpoint', 'http://127.0.0.1:9')
            $run.Exited | Should -BeTrue
            $run.ExitCode | Should -Not -Be 0
            $run.Output | Where-Object { $_ -like '{"event":"ready"*' } | Should -BeNullOrEmpty
            "$($run.Output) $($run.Errors.Result)" | Should -Match $Says
        } finally { Move-Item "$library.away" $library }
    }
}
