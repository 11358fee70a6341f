# Helpers shared by the NitroEnclave Pester suites.

function Get-TestModulePath {
    # The built module folder: out/NitroEnclave at the repository root.
    Join-Path (Split-Path (Split-Path $PSScriptRoot -Parent) -Parent) 'out/NitroEnclave/NitroEnclave.psd1'
}

function Get-TestPwsh {
    # The pwsh running these tests, for child sessions. Not the process path: under the dotnet tool that is dotnet.
    Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
}

function New-FakeSysTree {
    # A /sys for Get-EnclaveAllocator -SysRoot. 8 CPUs: 4 cores of 2 threads, thread k of core c is CPU c + 4k (CPU 0 shares its core with CPU 4).
    param([string] $Root)
    $cpuDir = Join-Path $Root 'sys/devices/system/cpu'
    New-Item -ItemType Directory -Path $cpuDir -Force | Out-Null
    Set-Content -Path (Join-Path $cpuDir 'online') -Value '0-7'
    foreach ($cpu in 0..7) {
        $core = $cpu % 4
        New-Item -ItemType Directory -Path (Join-Path $cpuDir "cpu$cpu/topology") -Force | Out-Null
        New-Item -ItemType Directory -Path (Join-Path $cpuDir "cpu$cpu/node0") -Force | Out-Null
        Set-Content -Path (Join-Path $cpuDir "cpu$cpu/topology/thread_siblings_list") -Value "$core,$($core + 4)"
    }
    $Root
}

function Get-Crc32 {
    param([byte[]] $Bytes, [uint32] $Crc = 0)
    $c = -bnot $Crc
    foreach ($b in $Bytes) {
        $c = $c -bxor $b
        for ($k = 0; $k -lt 8; $k++) {
            if ($c -band 1) { $c = ($c -shr 1) -bxor 0xEDB88320 } else { $c = $c -shr 1 }
        }
    }
    [uint32](-bnot $c -band 0xFFFFFFFF)
}

function ConvertTo-BigEndian {
    param([uint64] $Value, [int] $Size)
    $bytes = [BitConverter]::GetBytes($Value)
    [Array]::Reverse($bytes)
    , $bytes[(8 - $Size)..7]
}

function New-TestEif {
    <#
    .SYNOPSIS
    Writes a small Enclave Image File: kernel, cmdline, bootstrap ramdisk, application ramdisk.
    Returns the path and the PCRs computed the plain way (SHA-384 of zeros || SHA-384 of the data).
    #>
    param([string] $Path, [int] $Seed = 1, [switch] $BadCrc)
    $random = [System.Random]::new($Seed)
    $sections = @(
        @{ Type = 1; Data = [byte[]]::new(2000) }
        @{ Type = 2; Data = [System.Text.Encoding]::ASCII.GetBytes('console=ttyS0') }
        @{ Type = 3; Data = [byte[]]::new(700) }
        @{ Type = 3; Data = [byte[]]::new(3000) }
    )
    foreach ($s in $sections) { if ($s.Type -ne 2) { $random.NextBytes($s.Data) } }

    $header = [byte[]]::new(548)
    [byte[]](0x2E, 0x65, 0x69, 0x66) | ForEach-Object -Begin { $i = 0 } -Process { $header[$i++] = $_ }
    (ConvertTo-BigEndian 4 2).CopyTo($header, 4)
    (ConvertTo-BigEndian $sections.Count 2).CopyTo($header, 26)
    $offset = 548
    for ($i = 0; $i -lt $sections.Count; $i++) {
        (ConvertTo-BigEndian $offset 8).CopyTo($header, 28 + 8 * $i)
        (ConvertTo-BigEndian $sections[$i].Data.Length 8).CopyTo($header, 284 + 8 * $i)
        $offset += 12 + $sections[$i].Data.Length
    }

    $stream = [System.IO.MemoryStream]::new()
    $stream.Write($header, 0, 548)
    $crc = Get-Crc32 $header[0..543]
    foreach ($s in $sections) {
        $sectionHeader = [byte[]]::new(12)
        (ConvertTo-BigEndian $s.Type 2).CopyTo($sectionHeader, 0)
        (ConvertTo-BigEndian $s.Data.Length 8).CopyTo($sectionHeader, 4)
        $stream.Write($sectionHeader, 0, 12)
        $stream.Write($s.Data, 0, $s.Data.Length)
        $crc = Get-Crc32 $sectionHeader $crc
        $crc = Get-Crc32 $s.Data $crc
    }
    $bytes = $stream.ToArray()
    if ($BadCrc) { $crc = $crc -bxor 1 }
    (ConvertTo-BigEndian $crc 4).CopyTo($bytes, 544)
    [System.IO.File]::WriteAllBytes($Path, $bytes)

    # Not named Measure: the built-in alias 'measure' (Measure-Object) wins over a function of that name.
    function Get-TestPcr([byte[][]] $Parts) {
        $all = [System.IO.MemoryStream]::new()
        foreach ($p in $Parts) { $all.Write($p, 0, $p.Length) }
        $inner = [System.Security.Cryptography.SHA384]::HashData($all.ToArray())
        $outer = [System.Security.Cryptography.SHA384]::HashData([byte[]]([byte[]]::new(48) + $inner))
        [System.Convert]::ToHexString($outer).ToLowerInvariant()
    }

    [pscustomobject]@{
        Path = $Path
        PCR0 = Get-TestPcr @($sections[0].Data, $sections[1].Data, $sections[2].Data, $sections[3].Data)
        PCR1 = Get-TestPcr @($sections[0].Data, $sections[1].Data, $sections[2].Data)
        PCR2 = Get-TestPcr @(, $sections[3].Data)
    }
}

function Start-TestEnclaveServer {
    <#
    .SYNOPSIS
    Starts the module's enclave server with a simulated security module on a loopback port.
    Returns the process, its endpoint, its PCR0 and the path of the simulation's root certificate.
    #>
    param([Parameter(Mandatory)] [string] $StateDirectory)
    $server = Join-Path (Split-Path (Get-TestModulePath) -Parent) 'enclavehost/EnclaveHost'
    $start = [System.Diagnostics.ProcessStartInfo]::new($server)
    foreach ($argument in 'serve', '--listen', 'tcp://127.0.0.1:0', '--nsm', 'simulated', '--nsm-state', (Join-Path $StateDirectory 'nsm')) {
        $start.ArgumentList.Add($argument)
    }
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $process = [System.Diagnostics.Process]::Start($start)
    $ready = $process.StandardOutput.ReadLine() | ConvertFrom-Json
    $root = Join-Path $StateDirectory 'root.pem'
    Set-Content -Path $root -Value $ready.rootCertificate
    [pscustomobject]@{ Process = $process; Endpoint = $ready.endpoint; PCR0 = $ready.pcrs.PCR0; RootPath = $root }
}
