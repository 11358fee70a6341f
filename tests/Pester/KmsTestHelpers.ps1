# Calls the local KMS directly (SigV4 written out from the specification), for suites that need keys and decrypts
# without AWS.Tools installed.

function Invoke-TestKms {
    <#
    .SYNOPSIS
    Sends one KMS JSON 1.1 request signed with SigV4; returns the HTTP status and the parsed answer.
    #>
    param(
        [Parameter(Mandatory)] $Kms,
        [Parameter(Mandatory)] [string] $Operation,
        [hashtable] $Body = @{},
        # Whose keys sign the request: the server's administrator unless another principal's Credential is given.
        $Credential = $Kms.Credential
    )
    $keys = $Credential.GetCredentials()
    $AccessKey = $keys.AccessKey
    $SecretKey = $keys.SecretKey
    $utf8 = [System.Text.Encoding]::UTF8
    $bytes = $utf8.GetBytes(($Body | ConvertTo-Json -Depth 10 -Compress))
    $amzDate = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    $day = $amzDate.Substring(0, 8)
    $target = "TrentService.$Operation"
    $payloadHash = [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant()
    $canonical = "POST`n/`n`ncontent-type:application/x-amz-json-1.1`nhost:$($Kms.Endpoint.Authority)`nx-amz-date:$amzDate`nx-amz-target:$target`n`ncontent-type;host;x-amz-date;x-amz-target`n$payloadHash"
    $scope = "$day/$($Kms.Region)/kms/aws4_request"
    $canonicalHash = [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($utf8.GetBytes($canonical))).ToLowerInvariant()
    $key = $utf8.GetBytes("AWS4$SecretKey")
    foreach ($part in $day, $Kms.Region, 'kms', 'aws4_request') {
        $key = [System.Security.Cryptography.HMACSHA256]::HashData($key, $utf8.GetBytes($part))
    }
    $signature = [Convert]::ToHexString([System.Security.Cryptography.HMACSHA256]::HashData($key, $utf8.GetBytes("AWS4-HMAC-SHA256`n$amzDate`n$scope`n$canonicalHash"))).ToLowerInvariant()
    $headers = @{
        'X-Amz-Target' = $target
        'X-Amz-Date'   = $amzDate
        Authorization  = "AWS4-HMAC-SHA256 Credential=$AccessKey/$scope, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=$signature"
    }
    # A SigV4 Authorization value does not parse as a standard credential header: send it as written.
    $response = Invoke-WebRequest -Uri $Kms.Endpoint -Method Post -Body $bytes -ContentType 'application/x-amz-json-1.1' -Headers $headers -SkipHttpErrorCheck -SkipHeaderValidation
    [pscustomobject]@{ StatusCode = [int]$response.StatusCode; Body = ConvertFrom-KmsContent $response }
}

function ConvertFrom-KmsContent {
    <#
    .SYNOPSIS
    Parses a KMS answer. Invoke-WebRequest gives the body of an application/x-amz-json-1.1 response as bytes, not text.
    #>
    param([Parameter(Mandatory)] $Response)
    $content = $Response.Content
    if ($content -is [byte[]]) { $content = [System.Text.Encoding]::UTF8.GetString($content) }
    $content | ConvertFrom-Json
}

function Invoke-TestSts {
    <#
    .SYNOPSIS
    Sends one STS query-protocol request (Action=...&Version=2011-06-15) to the local KMS port, signed with SigV4 for
    service sts; returns the HTTP status and the answer as XML.
    #>
    param(
        [Parameter(Mandatory)] $Kms,
        [Parameter(Mandatory)] [string] $Action,
        [hashtable] $Parameters = @{},
        $Credential = $Kms.Credential
    )
    $keys = $Credential.GetCredentials()
    $utf8 = [System.Text.Encoding]::UTF8
    $form = @("Action=$Action", 'Version=2011-06-15') + @($Parameters.GetEnumerator() | ForEach-Object { "$($_.Key)=$([Uri]::EscapeDataString([string]$_.Value))" })
    $bytes = $utf8.GetBytes($form -join '&')
    $amzDate = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    $day = $amzDate.Substring(0, 8)
    $contentType = 'application/x-www-form-urlencoded; charset=utf-8'
    $payloadHash = [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant()
    $canonical = "POST`n/`n`ncontent-type:$contentType`nhost:$($Kms.Endpoint.Authority)`nx-amz-date:$amzDate`n`ncontent-type;host;x-amz-date`n$payloadHash"
    $scope = "$day/$($Kms.Region)/sts/aws4_request"
    $canonicalHash = [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($utf8.GetBytes($canonical))).ToLowerInvariant()
    $key = $utf8.GetBytes("AWS4$($keys.SecretKey)")
    foreach ($part in $day, $Kms.Region, 'sts', 'aws4_request') {
        $key = [System.Security.Cryptography.HMACSHA256]::HashData($key, $utf8.GetBytes($part))
    }
    $signature = [Convert]::ToHexString([System.Security.Cryptography.HMACSHA256]::HashData($key, $utf8.GetBytes("AWS4-HMAC-SHA256`n$amzDate`n$scope`n$canonicalHash"))).ToLowerInvariant()
    $headers = @{
        'X-Amz-Date'  = $amzDate
        Authorization = "AWS4-HMAC-SHA256 Credential=$($keys.AccessKey)/$scope, SignedHeaders=content-type;host;x-amz-date, Signature=$signature"
    }
    $response = Invoke-WebRequest -Uri $Kms.Endpoint -Method Post -Body $bytes -ContentType $contentType -Headers $headers -SkipHttpErrorCheck -SkipHeaderValidation
    $content = $response.Content
    if ($content -is [byte[]]) { $content = $utf8.GetString($content) }
    [pscustomobject]@{ StatusCode = [int]$response.StatusCode; Body = [xml]$content }
}
