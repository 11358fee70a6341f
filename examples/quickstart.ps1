#Requires -Version 7.4
<#
.SYNOPSIS
The whole NitroEnclave flow on this machine, in the local simulation: no AWS account, no Nitro hardware.

.DESCRIPTION
Starts the simulation (a local KMS that enforces attestation conditions, and the enclave server with a simulated
security module), encrypts the sample image for the enclave, locks the key to the simulated enclave's PCRs, runs
object detection inside the enclave, writes the annotated image, and shows that the parent's own decrypt is denied.
Uses only the module's cmdlets, PowerShell's core ones and .NET (no Join-Path or Format-Table, which the hosted engine
lacks), so it runs in pwsh or in the hosted engine (quickstart.sh).

.EXAMPLE
./examples/quickstart.ps1
#>
[CmdletBinding()]
param(
    [string] $ImagePath = [System.IO.Path]::Combine($PSScriptRoot, '../tests/data/detection/air-show.jpg'),
    [string] $OutputDirectory = [System.IO.Path]::Combine($PSScriptRoot, '../out/quickstart')
)

$ErrorActionPreference = 'Stop'
Import-Module ([System.IO.Path]::Combine($PSScriptRoot, '../out/NitroEnclave/NitroEnclave.psd1')) -Force
$ImagePath = [System.IO.Path]::GetFullPath($ImagePath)
$OutputDirectory = [System.IO.Directory]::CreateDirectory([System.IO.Path]::GetFullPath($OutputDirectory)).FullName
$encrypted = [System.IO.Path]::Combine($OutputDirectory, 'air-show.jpg.enc')

'== 1. Start the simulation: local KMS + enclave server with a simulated security module'
$simulation = Start-EnclaveSimulation -DataPath ([System.IO.Path]::Combine($OutputDirectory, 'simulation'))
$simulation | Out-Host
try {
    '== 2. The data owner encrypts the image with KMS envelope encryption (AWS Encryption SDK format)'
    Protect-EnclaveFile -LiteralPath $ImagePath -Destination $encrypted -Force | Out-Host

    '== 3. Lock the key to the simulated enclave: only a matching attestation document may decrypt'
    Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Confirm:$false
    (Get-KmsEnclavePolicy).Conditions | Out-Host

    '== 4. Detect objects inside the enclave: it gets the data key from KMS under attestation'
    $result = Invoke-EnclaveDetection -LiteralPath $encrypted
    $result | Out-Host
    $result.Objects | Out-Host

    '== 5. Draw the boxes onto the data owner''s own copy of the image'
    $result | Export-EnclaveDetectionImage -ImagePath $ImagePath -Destination ([System.IO.Path]::Combine($OutputDirectory, 'air-show.annotated.jpg')) -Force -PassThru | ForEach-Object FullName

    '== 6. The parent instance tries to decrypt the file itself'
    try {
        Unprotect-EnclaveFile -LiteralPath $encrypted -Destination ([System.IO.Path]::Combine($OutputDirectory, 'air-show.parent.jpg')) -Force
        throw 'The parent could decrypt the file: the key policy does not protect it.'
    }
    catch [System.Management.Automation.RuntimeException] {
        if ($_.FullyQualifiedErrorId -notlike 'KmsAccessDenied*') { throw }
        "Denied, as it must be: $($_.Exception.Message)"
    }
}
finally {
    Stop-EnclaveSimulation
}
