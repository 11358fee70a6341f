@{
    RootModule             = 'NitroEnclave.PowerShell.dll'
    ModuleVersion          = '0.1.0'
    CompatiblePSEditions   = @('Core')
    GUID                   = '5b0e8a3c-6f1d-4c47-9a51-2d7e0c3b9f41'
    Author                 = 'NitroEnclave contributors'
    CompanyName            = 'NitroEnclave'
    Copyright              = '(c) NitroEnclave contributors. Apache License 2.0.'
    Description            = 'Run machine learning on confidential data inside AWS Nitro Enclaves: envelope encryption with KMS, enclave image measurement, attestation, key policies, allocator sizing and object detection, with a faithful local simulation.'
    PowerShellVersion      = '7.4'
    TypesToProcess         = @('Types/NitroEnclave.Types.ps1xml')
    FormatsToProcess       = @(
        'Formats/NitroEnclave.Image.Format.ps1xml'
        'Formats/NitroEnclave.Attestation.Format.ps1xml'
        'Formats/NitroEnclave.Server.Format.ps1xml'
        'Formats/NitroEnclave.LocalKms.Format.ps1xml'
        'Formats/NitroEnclave.KmsPolicy.Format.ps1xml'
        'Formats/NitroEnclave.Allocator.Format.ps1xml'
        'Formats/NitroEnclave.Enclave.Format.ps1xml'
        'Formats/NitroEnclave.EnclaveFile.Format.ps1xml'
    )
    CmdletsToExport        = @(
        'Get-EnclavePcr'
        'Get-EnclaveImage'
        'Test-EnclaveImage'
        'Test-EnclaveAttestation'
        'ConvertFrom-EnclaveAttestation'
        'Start-LocalKms'
        'Stop-LocalKms'
        'Add-LocalKmsPrincipal'
        'Get-KmsEnclavePolicy'
        'Set-KmsEnclavePolicy'
        'Get-EnclaveAllocator'
        'Set-EnclaveAllocator'
        'New-EnclaveImage'
        'Start-Enclave'
        'Get-Enclave'
        'Stop-Enclave'
        'Get-EnclaveAttestation'
        'Invoke-EnclaveDetection'
        'Export-EnclaveDetectionImage'
        'Start-EnclaveSimulation'
        'Stop-EnclaveSimulation'
        'Protect-EnclaveFile'
        'Unprotect-EnclaveFile'
        'Unprotect-EnclaveDetectionResult'
    )
    FunctionsToExport      = @()
    VariablesToExport      = @()
    AliasesToExport        = @()
    PrivateData            = @{
        PSData = @{
            Tags         = @('AWS', 'Nitro', 'Enclave', 'KMS', 'Attestation', 'ConfidentialComputing', 'ONNX', 'Linux')
            LicenseUri   = 'https://www.apache.org/licenses/LICENSE-2.0'
            ProjectUri   = 'https://github.com/nitroenclave/NitroEnclave'
            ReleaseNotes = 'Get-EnclavePcr and Get-EnclaveImage: measure Enclave Image Files without nitro-cli.'
        }
    }
}
