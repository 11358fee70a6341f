#Requires -Version 7.4
<#
.SYNOPSIS
The whole NitroEnclave flow on this machine, in the local simulation: no AWS account, no Nitro hardware.

.DESCRIPTION
Starts the simulation (a local KMS that enforces attestation conditions, the enclave server with a simulated security
module, and two principals: the data owner and the parent instance), and runs each step as the principal who would run
it in real life: the data owner locks the key to the simulated enclave's PCRs and encrypts the sample image; the parent
runs object detection inside the enclave; the data owner writes the annotated image; the parent's own decrypt and its
attempt to change the key policy are denied. It ends in the confidential mode: the enclave encrypts its result to the
result key, so the parent sees only that a result exists, and the data owner reads the five airplanes.
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

'== 1. Start the simulation: local KMS + enclave server with a simulated security module, and two principals'
$simulation = Start-EnclaveSimulation -DataPath ([System.IO.Path]::Combine($OutputDirectory, 'simulation'))
$simulation | Out-Host
# The data owner owns the key and acts with their own credentials; the session defaults the simulation set are the
# parent instance's, which may encrypt and pass its credentials on to the enclave, but decrypt nothing itself.
$dataOwner = $simulation.DataOwnerCredential
"Data owner: $($simulation.DataOwnerArn); parent instance: $($simulation.ParentArn)"
try {
    '== 2. The data owner locks the key to the simulated enclave: only a matching attestation document may decrypt'
    # Start-EnclaveSimulation pinned it already, as the data owner; doing it again changes nothing and says so.
    Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Principal $simulation.ParentArn -Credential $dataOwner -Confirm:$false
    (Get-KmsEnclavePolicy -Credential $dataOwner).Conditions | Out-Host

    '== 3. The data owner encrypts the image with KMS envelope encryption (AWS Encryption SDK format)'
    Protect-EnclaveFile -LiteralPath $ImagePath -Destination $encrypted -Credential $dataOwner -Force | Out-Host

    '== 4. The parent detects objects inside the enclave: the enclave gets the data key from KMS under attestation'
    $result = Invoke-EnclaveDetection -LiteralPath $encrypted
    $result | Out-Host
    $result.Objects | Out-Host

    '== 5. The data owner draws the boxes onto their own copy of the image'
    $result | Export-EnclaveDetectionImage -ImagePath $ImagePath -Destination ([System.IO.Path]::Combine($OutputDirectory, 'air-show.annotated.jpg')) -Force -PassThru | ForEach-Object FullName

    '== 6. The parent instance tries to decrypt the file itself, and to unlock the key'
    try {
        Unprotect-EnclaveFile -LiteralPath $encrypted -Destination ([System.IO.Path]::Combine($OutputDirectory, 'air-show.parent.jpg')) -Force
        throw 'The parent could decrypt the file: the key policy does not protect it.'
    }
    catch [System.Management.Automation.RuntimeException] {
        if ($_.FullyQualifiedErrorId -notlike 'KmsAccessDenied*') { throw }
        "Decrypt denied, as it must be: $($_.Exception.Message)"
    }
    try {
        Set-KmsEnclavePolicy -Remove -Confirm:$false -ErrorAction Stop
        throw 'The parent could change the key policy: it could admit itself.'
    }
    catch [System.Management.Automation.RuntimeException] {
        if ($_.FullyQualifiedErrorId -notlike 'KmsAccessDenied*') { throw }
        "Policy change denied, as it must be: $($_.Exception.Message)"
    }

    '== 7. Confidential mode: the enclave encrypts its result to the result key, which only the data owner may decrypt'
    $confidential = Invoke-EnclaveDetection -LiteralPath $encrypted -ResultKeyId $simulation.ResultKeyAlias -ResultPath $OutputDirectory
    'What the parent sees: that a result exists, and where'
    $confidential | Out-Host
    try {
        $confidential | Unprotect-EnclaveDetectionResult -ErrorAction Stop
        throw 'The parent could read the confidential result: the result key policy does not protect it.'
    }
    catch [System.Management.Automation.RuntimeException] {
        if ($_.FullyQualifiedErrorId -notlike 'KmsAccessDenied*') { throw }
        "The parent's decrypt of the result is denied, as it must be: $($_.Exception.Message)"
    }
    'What the data owner reads:'
    $owned = $confidential | Unprotect-EnclaveDetectionResult -Credential $dataOwner
    $owned | Out-Host
    $owned.Objects | Out-Host
}
finally {
    Stop-EnclaveSimulation
}
