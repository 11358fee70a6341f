#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    $repoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
    $defaultFile = Join-Path $repoRoot 'tests/data/allocator/allocator.default.yaml'
}

Describe 'Get-EnclaveAllocator' {
    BeforeAll {
        $sysRoot = New-FakeSysTree -Root (Join-Path $TestDrive 'root')
    }

    It 'reads the default file as an object with no findings' {
        $path = Join-Path $TestDrive 'get.yaml'
        Copy-Item $defaultFile $path
        $settings = Get-EnclaveAllocator -Path $path -SysRoot $sysRoot
        $settings.MemoryMiB | Should -Be 512
        $settings.CpuCount | Should -Be 2
        $settings.CpuPool | Should -BeNullOrEmpty
        $settings.Findings | Should -HaveCount 0
    }

    It 'lists what the allocator service would refuse' {
        $path = Join-Path $TestDrive 'bad.yaml'
        Set-Content -Path $path -Value "memory_mib: 512`ncpu_pool: 1"
        (Get-EnclaveAllocator -Path $path -SysRoot $sysRoot).Findings.ErrorId | Should -Be 'AllocatorCpuPoolPartialCore'
    }
}

Describe 'Set-EnclaveAllocator' {
    BeforeAll {
        $sysRoot = New-FakeSysTree -Root (Join-Path $TestDrive 'root')
    }

    BeforeEach {
        $dir = Join-Path $TestDrive ([guid]::NewGuid())
        New-Item -ItemType Directory -Path $dir | Out-Null
        $path = Join-Path $dir 'allocator.yaml'
        Copy-Item $defaultFile $path
        $original = Get-Content -Path $path
    }

    It 'changes only the memory line and keeps a backup' {
        $result = Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -MemoryMiB 2048 -PassThru
        $diff = Compare-Object $original (Get-Content -Path $path)
        $diff.InputObject | Should -Be @('memory_mib: 2048', 'memory_mib: 512')
        $result.Changed | Should -BeTrue
        Get-Content -Path $result.BackupPath | Should -Be $original
    }

    It 'changes nothing the second time and says so' {
        Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -MemoryMiB 2048
        $before = Get-Content -Path $path -Raw
        $verbose = Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -MemoryMiB 2048 -Verbose 4>&1
        Get-Content -Path $path -Raw | Should -Be $before
        ($verbose | Out-String) | Should -Match 'nothing to change'
        (Get-ChildItem -Path $dir -Filter '*.bak') | Should -HaveCount 1
    }

    It 'switches to cpu_pool by commenting out cpu_count' {
        Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -CpuPool 2, 6
        $text = Get-Content -Path $path
        $text | Should -Contain '# cpu_count: 2'
        $text | Should -Contain 'cpu_pool: 2,6'
        $text | Should -Contain '# cpu_pool: 2,3,6-9'
    }

    It 'writes nothing under -WhatIf' {
        Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -MemoryMiB 1024 -WhatIf
        Get-Content -Path $path | Should -Be $original
        Get-ChildItem -Path $dir -Filter '*.bak' | Should -BeNullOrEmpty
    }

    It 'refuses <Arguments> with <ErrorId> and leaves the file alone' -TestCases @(
        @{ Arguments = @{ MemoryMiB = 0 }; ErrorId = 'AllocatorMemoryInvalid' }
        @{ Arguments = @{ CpuCount = 3 }; ErrorId = 'AllocatorCpuCountNotWholeCores' }
        @{ Arguments = @{ CpuCount = 8 }; ErrorId = 'AllocatorCpuCountTooLarge' }
        @{ Arguments = @{ CpuPool = '1,4,5' }; ErrorId = 'AllocatorCpuPoolIncludesCpu0' }
        @{ Arguments = @{ CpuPool = '2-' }; ErrorId = 'AllocatorCpuPoolSyntax' }
    ) {
        { Set-EnclaveAllocator -Path $path -SysRoot $sysRoot @Arguments -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId*"
        Get-Content -Path $path | Should -Be $original
    }

    It 'restarts the allocator service with systemctl when asked' {
        $savedPath = $env:PATH
        try {
            $env:PATH = (Join-Path $repoRoot 'tests/data/fake-systemctl') + [System.IO.Path]::PathSeparator + $env:PATH
            $env:FAKE_SYSTEMCTL_LOG = Join-Path $dir 'systemctl.log'
            Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -MemoryMiB 1024 -Restart
            Get-Content -Path $env:FAKE_SYSTEMCTL_LOG | Should -Be 'restart nitro-enclaves-allocator.service'
        }
        finally {
            $env:PATH = $savedPath
            Remove-Item Env:FAKE_SYSTEMCTL_LOG
        }
    }

    It 'says clearly when systemctl is missing' {
        $savedPath = $env:PATH
        try {
            $env:PATH = Join-Path $TestDrive 'no-such-dir'
            { Set-EnclaveAllocator -Path $path -SysRoot $sysRoot -MemoryMiB 1024 -Restart -ErrorAction Stop } | Should -Throw -ErrorId 'SystemctlNotFound*'
        }
        finally {
            $env:PATH = $savedPath
        }
    }
}
