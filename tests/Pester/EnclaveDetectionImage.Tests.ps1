#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force

    function New-TestPng {
        # A PNG of one flat colour: truecolour, 8 bits, every row unfiltered.
        param([string] $Path, [int] $Width, [int] $Height, [byte] $Level = 100)
        $raw = [System.IO.MemoryStream]::new()
        $row = [byte[]]::new(1 + 3 * $Width)
        for ($i = 1; $i -lt $row.Length; $i++) { $row[$i] = $Level }
        for ($y = 0; $y -lt $Height; $y++) { $raw.Write($row, 0, $row.Length) }
        $packed = [System.IO.MemoryStream]::new()
        $zlib = [System.IO.Compression.ZLibStream]::new($packed, [System.IO.Compression.CompressionLevel]::Optimal)
        $zlib.Write($raw.ToArray(), 0, [int]$raw.Length)
        $zlib.Dispose()

        $file = [System.IO.MemoryStream]::new()
        $file.Write([byte[]](0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A), 0, 8)
        $header = [byte[]]((ConvertTo-BigEndian $Width 4) + (ConvertTo-BigEndian $Height 4) + [byte[]](8, 2, 0, 0, 0))
        foreach ($chunk in @(@('IHDR', $header), @('IDAT', $packed.ToArray()), @('IEND', [byte[]]::new(0)))) {
            $typeAndData = [byte[]]([System.Text.Encoding]::ASCII.GetBytes($chunk[0]) + $chunk[1])
            $file.Write([byte[]](ConvertTo-BigEndian $chunk[1].Length 4), 0, 4)
            $file.Write($typeAndData, 0, $typeAndData.Length)
            $file.Write([byte[]](ConvertTo-BigEndian (Get-Crc32 $typeAndData) 4), 0, 4)
        }
        [System.IO.File]::WriteAllBytes($Path, $file.ToArray())
        $Path
    }

    function Get-PngSize {
        param([string] $Path)
        # Width and height are the first two big-endian 32-bit fields of the IHDR chunk, at bytes 16 and 20.
        $bytes = [System.IO.File]::ReadAllBytes($Path)
        $field = { param($At) ([int]$bytes[$At] -shl 24) -bor ([int]$bytes[$At + 1] -shl 16) -bor ([int]$bytes[$At + 2] -shl 8) -bor $bytes[$At + 3] }
        [pscustomobject]@{ Width = & $field 16; Height = & $field 20 }
    }
}

Describe 'Export-EnclaveDetectionImage' {
    BeforeAll {
        $image = New-TestPng -Path (Join-Path $TestDrive 'photo.png') -Width 200 -Height 100
        $detection = [pscustomobject]@{
            Path        = 'photo.png.enc'
            ImageWidth  = 200
            ImageHeight = 100
            Objects     = @([pscustomobject]@{ Label = 'airplane'; ClassId = 5; Score = 0.9; Box = [pscustomobject]@{ XMin = 0.1; YMin = 0.2; XMax = 0.5; YMax = 0.6 } })
        }
    }

    It 'writes an annotated PNG of the image''s size and returns it with -PassThru' {
        $destination = Join-Path $TestDrive 'annotated.png'
        $file = $detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -PassThru
        $file | Should -BeOfType System.IO.FileInfo
        $file.FullName | Should -Be $destination
        $size = Get-PngSize $destination
        $size.Width | Should -Be 200
        $size.Height | Should -Be 100
        (Get-FileHash $destination).Hash | Should -Not -Be (Get-FileHash $image).Hash
    }

    It 'writes a JPEG when the destination says so or -Format Jpeg is given' {
        $byExtension = Join-Path $TestDrive 'annotated.jpg'
        $byFormat = Join-Path $TestDrive 'annotated.out'
        $detection | Export-EnclaveDetectionImage $image $byExtension
        $detection | Export-EnclaveDetectionImage $image $byFormat -Format Jpeg -Quality 70
        foreach ($path in $byExtension, $byFormat) {
            [System.IO.File]::ReadAllBytes($path)[0..2] | Should -Be @(0xFF, 0xD8, 0xFF)
        }
    }

    It 'writes nothing with -WhatIf' {
        $destination = Join-Path $TestDrive 'whatif.png'
        $detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -WhatIf
        Test-Path $destination | Should -BeFalse
    }

    It 'keeps an existing file unless -Force is given' {
        $destination = Join-Path $TestDrive 'existing.png'
        Set-Content -Path $destination -Value 'earlier'
        $detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -ErrorVariable problems -ErrorAction SilentlyContinue
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'DestinationExists,*'
        Get-Content $destination | Should -Be 'earlier'
        $detection | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination -Force
        (Get-PngSize $destination).Width | Should -Be 200
    }

    It 'refuses an image of another size than the detection with ImageMismatch' {
        $other = New-TestPng -Path (Join-Path $TestDrive 'other.png') -Width 100 -Height 200
        $destination = Join-Path $TestDrive 'mismatch.png'
        $detection | Export-EnclaveDetectionImage -ImagePath $other -Destination $destination -ErrorVariable problems -ErrorAction SilentlyContinue
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'ImageMismatch,*'
        Test-Path $destination | Should -BeFalse
    }

    It 'reports a missing image with PathNotFound' {
        $detection | Export-EnclaveDetectionImage -ImagePath (Join-Path $TestDrive 'missing.png') -Destination (Join-Path $TestDrive 'x.png') -ErrorVariable problems -ErrorAction SilentlyContinue
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'PathNotFound,*'
    }

    It 'reads a result saved with Export-Clixml' {
        $saved = Join-Path $TestDrive 'detection.xml'
        # Deep enough for each object's Box; the default depth would save it as text.
        $detection | Export-Clixml -Path $saved -Depth 5
        $destination = Join-Path $TestDrive 'from-xml.png'
        Import-Clixml -Path $saved | Export-EnclaveDetectionImage -ImagePath $image -Destination $destination
        (Get-PngSize $destination).Height | Should -Be 100
    }

    It 'draws the five reference airplanes on the air show photo' {
        $root = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
        $reference = Get-Content -Raw (Join-Path $root 'tests/data/detection/air-show.expected.json') | ConvertFrom-Json
        $airShow = [pscustomobject]@{
            ImageWidth  = 3994
            ImageHeight = 3235
            Objects     = @($reference.objects_detected | ForEach-Object {
                    # The reference boxes are [ymin, xmin, ymax, xmax] and its scores percentages.
                    [pscustomobject]@{ Label = 'airplane'; ClassId = 5; Score = $_.score / 100; Box = [pscustomobject]@{ XMin = $_.detection_box[1]; YMin = $_.detection_box[0]; XMax = $_.detection_box[3]; YMax = $_.detection_box[2] } }
                })
        }
        $destination = Join-Path $TestDrive 'air-show.annotated.jpg'
        $airShow | Export-EnclaveDetectionImage -ImagePath (Join-Path $root 'tests/data/detection/air-show.jpg') -Destination $destination
        (Get-Item $destination).Length | Should -BeGreaterThan 100000
    }
}
