#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# The deployment suite cannot run here (no Nitro instance), but how it fails without a deployment is user-facing:
# it must never prompt and must name what it needs. It runs in a child pwsh, non-interactive, with this Pester.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $suite = Join-Path $PSScriptRoot 'Deployment.Tests.ps1'
    $pester = Join-Path (Get-Module Pester).ModuleBase 'Pester.psd1'

    function Invoke-DeploymentSuite([hashtable] $Data) {
        $script = {
            param($Pester, $Suite, $DataJson)
            Import-Module $Pester
            $data = @{}
            ($DataJson | ConvertFrom-Json).PSObject.Properties | ForEach-Object { $data[$_.Name] = $_.Value }
            $result = Invoke-Pester -Container (New-PesterContainer -Path $Suite -Data $data) -PassThru -Output None
            [pscustomobject]@{
                Result  = $result.Result
                Failed  = $result.FailedCount
                Passed  = $result.PassedCount
                Causes  = @($result.Containers.ErrorRecord | ForEach-Object { $_.Exception.Message })
            } | ConvertTo-Json -Depth 3
        }
        $json = & (Get-TestPwsh) -NoProfile -NonInteractive `
            -Command $script -args $pester, $suite, ($Data | ConvertTo-Json -Compress)
        $LASTEXITCODE | Should -Be 0 -Because 'the child pwsh must not fail or wait for input'
        $json | ConvertFrom-Json
    }
}

Describe 'Deployment.Tests.ps1 without a deployment' {
    It 'is left out of ./build.ps1 -Task Test by its tag' {
        $tags = (Get-Content -LiteralPath $suite -Raw | Select-String -Pattern "Describe '[^']+' -Tag (\w+)" -AllMatches).Matches |
            ForEach-Object { $_.Groups[1].Value }
        $tags | Should -HaveCount 3
        $tags | Sort-Object -Unique | Should -Be 'Deployment'
    }

    It 'without its data names every missing value, once, instead of prompting' {
        $run = Invoke-DeploymentSuite @{}
        $run.Result | Should -Be 'Failed'
        $run.Passed | Should -Be 0
        $run.Causes | Should -HaveCount 1
        $run.Causes[0] | Should -Match 'needs its data: ImagePath, KeyId, Region, SampleImage missing'
        $run.Causes[0] | Should -Match 'New-PesterContainer'
    }

    It 'with an image that does not exist stops with that cause, not with follow-on nulls' {
        $run = Invoke-DeploymentSuite @{
            KeyId = 'alias/detector'; Region = 'eu-west-1'; SampleImage = 'sample.jpg'
            ImagePath = (Join-Path $TestDrive 'missing.eif'); Endpoint = 'tcp://127.0.0.1:9'
        }
        $run.Passed | Should -Be 0
        $run.Causes | Should -HaveCount 1
        $run.Causes[0] | Should -Match 'missing\.eif'
        $run.Causes[0] | Should -Not -Match 'null'
    }
}
