#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

# Every credential and region source an AWS.Tools user relies on, against the strict local KMS: a request signed with
# the wrong keys, or for another region than the server's, is refused, so a success proves which source was used.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'KmsTestHelpers.ps1')
    Import-Module (Get-TestModulePath) -Force
    if (-not ('NitroEnclaveTests.LoopbackHttp' -as [type])) {
        Add-Type -Path (Join-Path $PSScriptRoot 'LoopbackHttp.cs')
    }

    # The region of the local KMS; every profile the tests write uses it too (the server refuses other regions).
    $region = 'eu-west-1'
    $kms = Start-LocalKms -DataPath (Join-Path $TestDrive 'kms') -Region $region
    $keyArn = (Invoke-TestKms -Kms $kms -Operation CreateKey).Body.KeyMetadata.Arn
    $ak = $kms.AccessKey
    $sk = $kms.Credential.GetCredentials().SecretKey
    $endpoint = $kms.Endpoint.ToString()
    $photo = Join-Path $TestDrive 'photo.jpg'
    [System.IO.File]::WriteAllBytes($photo, [byte[]](1..200))
    $emptyFile = Join-Path $TestDrive 'no-such-aws-file'

    # A profile file with the local KMS's keys in several shapes.
    $profiles = Join-Path $TestDrive 'credentials'
    Set-Content -Path $profiles -Value @"
[default]
aws_access_key_id = $ak
aws_secret_access_key = $sk
region = $region

[local]
aws_access_key_id = $ak
aws_secret_access_key = $sk
region = $region

[wrongsecret]
aws_access_key_id = $ak
aws_secret_access_key = not-the-secret
region = $region

[otherregion]
aws_access_key_id = $ak
aws_secret_access_key = $sk
region = ap-south-1
"@

    function Protect-Photo {
        # Encrypts the photo with the AWS parameters given; returns 'ok' or the error id.
        param([hashtable] $Aws)
        try {
            $null = Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'photo.enc') -Force -ErrorAction Stop @Aws
            'ok'
        }
        catch {
            ($_.FullyQualifiedErrorId -split ',')[0]
        }
    }

    # A fresh pwsh for the sources the SDK reads once per process (files, environment, instance metadata) or that
    # must not leak into this session. The script gets the module path, the photo, the key and the endpoint.
    function Invoke-InFreshSession([string] $Script, [hashtable] $Environment = @{}) {
        $isolated = @{
            AWS_SHARED_CREDENTIALS_FILE = $emptyFile; AWS_CONFIG_FILE = $emptyFile; AWS_EC2_METADATA_DISABLED = 'true'
            AWS_PROFILE = $null; AWS_REGION = $null; AWS_DEFAULT_REGION = $null; AWS_ACCESS_KEY_ID = $null; AWS_SECRET_ACCESS_KEY = $null
            AWS_SESSION_TOKEN = $null; AWS_ENDPOINT_URL = $null; AWS_ENDPOINT_URL_KMS = $null
        }
        foreach ($name in $Environment.Keys) { $isolated[$name] = $Environment[$name] }
        # Through env: so that $null removes a variable (a .NET call would set it to an empty string).
        function Set-Variables([hashtable] $Values) {
            foreach ($name in $Values.Keys) {
                if ($null -eq $Values[$name]) { Remove-Item "env:$name" -ErrorAction SilentlyContinue } else { Set-Item "env:$name" $Values[$name] }
            }
        }
        $saved = @{}
        foreach ($name in $isolated.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name) }
        Set-Variables $isolated
        $prelude = @'
param($ModulePath, $Photo, $KeyArn, $Endpoint)
Import-Module $ModulePath
function Protect-Photo {
    [CmdletBinding()]
    param([hashtable] $Aws = @{})
    try {
        $null = Protect-EnclaveFile -Path $Photo -KeyId $KeyArn -Destination "$Photo.fresh.enc" -Force -ErrorAction Stop @Aws
        'ok'
    }
    catch { ($_.FullyQualifiedErrorId -split ',')[0] }
}
'@
        try {
            & (Get-TestPwsh) -NoProfile -NonInteractive -Command ([scriptblock]::Create($prelude + "`n" + $Script)) -args (Get-TestModulePath), $photo, $keyArn, $endpoint
        }
        finally {
            Set-Variables $saved
        }
    }

    # A role in the local STS that the account's principals may assume, and a web identity token for it.
    $roleArn = "arn:aws:iam::$($kms.AccountId):role/Tester"
    $null = $kms | Add-LocalKmsRole -Arn $roleArn -TrustedPrincipal "arn:aws:iam::$($kms.AccountId):root" -WebIdentitySubject ci-job
    $webIdentityToken = $kms | New-LocalKmsWebIdentityToken -Subject ci-job

    # Credentials the SDK reads from a metadata endpoint: the local KMS's keys, without a session token (the local
    # KMS's long-term keys have none).
    $metadataCredentials = @{
        Code = 'Success'; Type = 'AWS-HMAC'; AccessKeyId = $ak; SecretAccessKey = $sk
        LastUpdated = [DateTime]::UtcNow.ToString('o'); Expiration = [DateTime]::UtcNow.AddHours(6).ToString('yyyy-MM-ddTHH:mm:ssZ')
    } | ConvertTo-Json
}

AfterAll {
    if ($kms) { $kms | Stop-LocalKms -ErrorAction SilentlyContinue }
}

Describe 'Credential sources' {
    It 'explicit keys, with the AWS.Tools aliases -AK, -SK and -SecretAccessKey' {
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = $region; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ AK = $ak; SK = $sk; Region = $region; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ AK = $ak; SecretAccessKey = $sk; RegionToCall = $region; EndpointUrl = $endpoint } | Should -Be 'ok'
    }

    It '-Credential' {
        Protect-Photo @{ Credential = $kms.Credential; Region = $region; EndpointUrl = $endpoint } | Should -Be 'ok'
    }

    It 'a profile by -ProfileName, -AWSProfileName or -StoredCredentials; its region is the signing region with -EndpointUrl' {
        Protect-Photo @{ ProfileName = 'local'; ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ AWSProfileName = 'local'; ProfilesLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ StoredCredentials = 'local'; AWSProfilesLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
        # The profile's ap-south-1 signs for another region than the server's: refused, so the profile's region was used.
        Protect-Photo @{ ProfileName = 'otherregion'; ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
    }

    It '-ProfileLocation without -ProfileName uses that file''s default profile' {
        $only = Join-Path $TestDrive 'only-default'
        Set-Content -Path $only -Value "[default]`naws_access_key_id = $ak`naws_secret_access_key = not-the-secret`nregion = $region"
        Protect-Photo @{ ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ ProfileLocation = $only; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
        $records = Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'v.enc') -Force -ProfileLocation $profiles -EndpointUrl $endpoint -Verbose 4>&1
        $records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message |
            Should -Contain "AWS credentials: profile 'default' of -ProfileLocation, defined in $profiles."
    }

    It 'AWS_PROFILE and AWS_SHARED_CREDENTIALS_FILE, with the profile''s region' {
        Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint }' @{ AWS_SHARED_CREDENTIALS_FILE = $profiles; AWS_PROFILE = 'local' } | Should -Be 'ok'
        Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint }' @{ AWS_SHARED_CREDENTIALS_FILE = $profiles; AWS_PROFILE = 'wrongsecret' } | Should -Be 'AwsSignatureInvalid'
    }

    It 'the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with AWS_REGION' {
        $environment = @{ AWS_ACCESS_KEY_ID = $ak; AWS_SECRET_ACCESS_KEY = $sk; AWS_REGION = $region }
        Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint }' $environment | Should -Be 'ok'
        $verbose = Invoke-InFreshSession 'Protect-EnclaveFile -Path $Photo -KeyId $KeyArn -Destination "$Photo.v.enc" -Force -EndpointUrl $Endpoint -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message' $environment
        $verbose | Should -Contain "AWS credentials: the AWS SDK default chain: the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, access key $($ak.Substring(0, 4))...$($ak.Substring($ak.Length - 4))."
        $verbose | Should -Contain "AWS region: $region (from AWS_REGION)."
    }

    It '$StoredAWSCredentials as Set-AWSCredential leaves it: the AWS.Tools wrapper around SDK credentials' {
        # The shape of Amazon.PowerShell.Common.AWSPSCredentials: the credentials and name are internal members.
        if (-not ('Amazon.PowerShell.Common.AWSPSCredentials' -as [type])) {
            Add-Type -TypeDefinition @'
namespace Amazon.PowerShell.Common {
    public sealed class TestKeys { public string AccessKey { get; set; } public string SecretKey { get; set; } public string Token { get; set; } public bool UseToken { get { return !string.IsNullOrEmpty(Token); } } }
    public sealed class TestAWSCredentials { private readonly TestKeys _keys; public TestAWSCredentials(string a, string s) { _keys = new TestKeys { AccessKey = a, SecretKey = s, Token = "" }; } public TestKeys GetCredentials() { return _keys; } }
    public class AWSPSCredentials {
        public AWSPSCredentials(object credentials, string name) { Credentials = credentials; Name = name; }
        internal object Credentials { get; private set; }
        internal string Name { get; private set; }
        public override string ToString() { return Name; }
    }
}
'@
        }
        $StoredAWSCredentials = [Amazon.PowerShell.Common.AWSPSCredentials]::new([Amazon.PowerShell.Common.TestAWSCredentials]::new($ak, $sk), 'Supplied Key Parameters')
        Protect-Photo @{ Region = $region; EndpointUrl = $endpoint } | Should -Be 'ok'
        $StoredAWSCredentials = [Amazon.PowerShell.Common.AWSPSCredentials]::new([Amazon.PowerShell.Common.TestAWSCredentials]::new($ak, 'not-the-secret'), 'wrong')
        Protect-Photo @{ Region = $region; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
    }

    It '$StoredAWSCredentials as a profile name, read from -ProfileLocation' {
        $StoredAWSCredentials = 'local'
        Protect-Photo @{ ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
        $StoredAWSCredentials = 'wrongsecret'
        Protect-Photo @{ ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
    }

    It 'a $StoredAWSCredentials that gives no credentials is an error, not a fall-through to the default profile' {
        $StoredAWSCredentials = 42
        Protect-Photo @{ ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'AwsStoredCredentialsUnusable'
        $StoredAWSCredentials = [pscustomobject]@{ AccessKey = $ak }
        Protect-Photo @{ ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'AwsStoredCredentialsUnusable'
    }

    It 'explicit -ProfileName and -Credential win over the simulation''s session default credentials' {
        $PSDefaultParameterValues['Protect-EnclaveFile:Credential'] = [pscustomobject]@{ AccessKey = $ak; SecretKey = 'not-the-secret' }
        $PSDefaultParameterValues['Protect-EnclaveFile:Region'] = $region
        try {
            Protect-Photo @{ EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
            Protect-Photo @{ ProfileName = 'local'; ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
            Protect-Photo @{ Credential = $kms.Credential; EndpointUrl = $endpoint } | Should -Be 'ok'
            Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; EndpointUrl = $endpoint } | Should -Be 'ok'
        }
        finally {
            $PSDefaultParameterValues.Remove('Protect-EnclaveFile:Credential')
            $PSDefaultParameterValues.Remove('Protect-EnclaveFile:Region')
        }
    }

    It 'the AWS parameters bind from the pipeline by property name' {
        $file = Join-Path $TestDrive 'piped.txt'
        Set-Content -Path $file -Value 'piped'
        $result = Get-Item $file | Add-Member -NotePropertyMembers @{ AccessKey = $ak; SecretKey = $sk; Region = $region; EndpointUrl = $endpoint } -PassThru |
            Protect-EnclaveFile -KeyId $keyArn -Force
        $result.Destination | Should -Be "$file.enc"
        Get-Item "$file.enc" | Add-Member -NotePropertyMembers @{ ProfileName = 'local'; ProfileLocation = $profiles; EndpointUrl = $endpoint } -PassThru |
            Unprotect-EnclaveFile -Destination (Join-Path $TestDrive 'piped.out') -Force | Out-Null
        Get-Content (Join-Path $TestDrive 'piped.out') | Should -Be 'piped'
    }

    It 'an assume-role profile, with source_profile or credential_source, through the local STS' {
        $config = Join-Path $TestDrive 'config-roles'
        Set-Content -Path $config -Value @"
[profile role]
region = $region
role_arn = $roleArn
source_profile = base

[profile envrole]
region = $region
role_arn = $roleArn
credential_source = Environment

[profile base]
region = $region
"@
        $credentials = Join-Path $TestDrive 'credentials-roles'
        Set-Content -Path $credentials -Value "[base]`naws_access_key_id = $ak`naws_secret_access_key = $sk"
        $files = @{ AWS_CONFIG_FILE = $config; AWS_SHARED_CREDENTIALS_FILE = $credentials; AWS_ENDPOINT_URL_STS = $endpoint }
        Invoke-InFreshSession 'Protect-Photo @{ ProfileName = "role"; EndpointUrl = $Endpoint }' $files | Should -Be 'ok'
        Invoke-InFreshSession 'Protect-Photo @{ ProfileName = "envrole"; EndpointUrl = $Endpoint }' ($files + @{ AWS_ACCESS_KEY_ID = $ak; AWS_SECRET_ACCESS_KEY = $sk }) | Should -Be 'ok'
        # Without the source's keys the role cannot be assumed: an error naming the profile, not another identity.
        Invoke-InFreshSession 'Protect-Photo @{ ProfileName = "envrole"; EndpointUrl = $Endpoint }' $files | Should -Be 'AwsCredentialsUnavailable'
    }

    It 'web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN through the local STS' {
        $tokenFile = Join-Path $TestDrive 'web-identity-token'
        [System.IO.File]::WriteAllText($tokenFile, $webIdentityToken)
        $environment = @{ AWS_WEB_IDENTITY_TOKEN_FILE = $tokenFile; AWS_ROLE_ARN = $roleArn; AWS_ROLE_SESSION_NAME = 'ci'; AWS_REGION = $region; AWS_ENDPOINT_URL_STS = $endpoint }
        $lines = Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint } -Verbose 4>&1 | ForEach-Object { "$_" }' $environment
        $lines | Should -Contain 'ok'
        $lines | Where-Object { $_ -like 'AWS credentials:*' } | Should -BeLike '*the web identity token of AWS_WEB_IDENTITY_TOKEN_FILE, access key ASIA*'
        [System.IO.File]::WriteAllText($tokenFile, 'not-a-token')
        Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint }' $environment | Should -Be 'AwsCredentialsUnavailable'
    }

    It 'an SSO profile without a token says to sign in' {
        $config = Join-Path $TestDrive 'config-sso'
        Set-Content -Path $config -Value "[profile sso]`nregion = $region`nsso_start_url = https://example.awsapps.com/start`nsso_region = $region`nsso_account_id = 111122223333`nsso_role_name = Admin"
        # HOME holds the SSO token cache (~/.aws/sso/cache): an empty one, so there is no token.
        $ssoHome = Join-Path $TestDrive 'sso-home'
        New-Item -ItemType Directory -Path $ssoHome -Force | Out-Null
        $lines = Invoke-InFreshSession 'try { Protect-EnclaveFile -Path $Photo -KeyId $KeyArn -Force -ProfileName sso -EndpointUrl $Endpoint -ErrorAction Stop } catch { ($_.FullyQualifiedErrorId -split ",")[0]; $_.Exception.Message }' @{ AWS_CONFIG_FILE = $config; HOME = $ssoHome }
        $lines[0] | Should -Be 'AwsSsoSignInRequired'
        $lines[1] | Should -BeLike "*aws sso login --profile sso*"
    }

    It 'the EC2 instance role through IMDSv2, and the region from the instance metadata' {
        $imds = [NitroEnclaveTests.LoopbackHttp]::new($false)
        try {
            $imds.Route('PUT', '/latest/api/token', 200, 'imds-session-token')
            $imds.Route('GET', '/latest/meta-data/iam/security-credentials', 200, 'TestRole')
            $imds.Route('GET', '/latest/meta-data/iam/security-credentials/', 200, 'TestRole')
            $imds.Route('GET', '/latest/meta-data/iam/security-credentials/TestRole', 200, $metadataCredentials)
            $imds.Route('GET', '/latest/meta-data/placement/region', 200, $region)
            $imds.Route('GET', '/latest/dynamic/instance-identity/document', 200, (@{ region = $region } | ConvertTo-Json))
            $environment = @{ AWS_EC2_METADATA_DISABLED = $null; AWS_EC2_METADATA_SERVICE_ENDPOINT = $imds.Url }
            $verbose = Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint } -Verbose 4>&1 | ForEach-Object { "$_" }' $environment
            $verbose | Should -Contain 'ok'
            $verbose | Should -Contain "AWS region: $region (from the EC2 instance metadata)."
            $verbose | Where-Object { $_ -like 'AWS credentials:*' } | Should -BeLike '*the EC2 instance role (instance metadata)*'
            # IMDSv2: every metadata read carries the session token from the PUT.
            $reads = @($imds.Requests | Where-Object Method -EQ 'GET')
            $reads.Count | Should -BeGreaterThan 0
            $reads | ForEach-Object { $_.Headers['X-aws-ec2-metadata-token'] | Should -Be 'imds-session-token' }
        }
        finally {
            $imds.Dispose()
        }
    }

    It 'the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)' {
        $ecs = [NitroEnclaveTests.LoopbackHttp]::new($false)
        try {
            $ecs.Route('GET', '/credentials', 200, $metadataCredentials)
            $environment = @{ AWS_CONTAINER_CREDENTIALS_FULL_URI = "$($ecs.Url)/credentials"; AWS_CONTAINER_AUTHORIZATION_TOKEN = 'ecs-auth'; AWS_REGION = $region }
            $verbose = Invoke-InFreshSession 'Protect-Photo @{ EndpointUrl = $Endpoint } -Verbose 4>&1 | ForEach-Object { "$_" }' $environment
            $verbose | Should -Contain 'ok'
            $verbose | Where-Object { $_ -like 'AWS credentials:*' } | Should -BeLike '*the container credentials endpoint*'
            @($ecs.Requests)[0].Headers['Authorization'] | Should -Be 'ecs-auth'
        }
        finally {
            $ecs.Dispose()
        }
    }
}

Describe 'The region chain' {
    It 'is the same with -EndpointUrl as without: -Region, then $StoredAWSRegion, then the profile' {
        # Each wrong region is refused by the server, each right one accepted: the signing region is the chain's.
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = 'ap-south-1'; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
        $StoredAWSRegion = $region
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = 'ap-south-1'; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
        $StoredAWSRegion = 'ap-south-1'
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = $region; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ ProfileName = 'local'; ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'AwsSignatureInvalid'
        Remove-Variable StoredAWSRegion
        Protect-Photo @{ ProfileName = 'local'; ProfileLocation = $profiles; EndpointUrl = $endpoint } | Should -Be 'ok'
    }

    It 'never falls back to us-east-1: no region at all is AwsRegionMissing' {
        Invoke-InFreshSession 'Protect-Photo @{ AccessKey = "AKIAIOSFODNN7EXAMPLE"; SecretKey = "x"; EndpointUrl = $Endpoint }' | Should -Be 'AwsRegionMissing'
    }

    It '-Region takes a region object (RegionEndpoint has SystemName, AWS.Tools'' AWSRegion has Region) as well as a string' {
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = [pscustomobject]@{ SystemName = $region; DisplayName = 'Europe (Ireland)' }; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = [pscustomobject]@{ Region = $region; Name = 'Europe (Ireland)' }; EndpointUrl = $endpoint } | Should -Be 'ok'
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = 42; EndpointUrl = $endpoint } | Should -Be 'AwsRegionInvalid'
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; Region = 'EU WEST'; EndpointUrl = $endpoint } | Should -Be 'AwsRegionInvalid'
        $StoredAWSRegion = [pscustomobject]@{ Nothing = 1 }
        Protect-Photo @{ AccessKey = $ak; SecretKey = $sk; EndpointUrl = $endpoint } | Should -Be 'AwsRegionInvalid'
    }

    It 'AWS_ENDPOINT_URL_KMS and a profile''s endpoint_url are the endpoint, signed for the chain''s region' {
        $environment = @{ AWS_ENDPOINT_URL_KMS = $endpoint; AWS_REGION = $region }
        $lines = Invoke-InFreshSession 'Protect-Photo @{ AccessKey = $args[0]; SecretKey = $args[1] } -Verbose 4>&1 | ForEach-Object { "$_" }'.Replace('$args[0]', "'$ak'").Replace('$args[1]', "'$sk'") $environment
        $lines | Should -Contain 'ok'
        $lines | Should -Contain "KMS endpoint: $endpoint (AWS_ENDPOINT_URL_KMS)."

        $config = Join-Path $TestDrive 'config-endpoint'
        Set-Content -Path $config -Value "[profile viaconfig]`nregion = $region`nendpoint_url = $endpoint"
        $credentials = Join-Path $TestDrive 'credentials-endpoint'
        Set-Content -Path $credentials -Value "[viaconfig]`naws_access_key_id = $ak`naws_secret_access_key = $sk"
        $lines = Invoke-InFreshSession 'Protect-Photo @{ ProfileName = "viaconfig" } -Verbose 4>&1 | ForEach-Object { "$_" }' @{ AWS_CONFIG_FILE = $config; AWS_SHARED_CREDENTIALS_FILE = $credentials }
        $lines | Should -Contain 'ok'
        $lines | Should -Contain "KMS endpoint: $endpoint (endpoint_url of profile 'viaconfig')."
    }

    It 'without -EndpointUrl -Verbose names the region''s real endpoint' {
        $records = Protect-EnclaveFile -Path $photo -KeyId $keyArn -AccessKey $ak -SecretKey $sk -Region eu-central-1 -WhatIf -Verbose 4>&1
        $records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message |
            Should -Contain "KMS endpoint: https://kms.eu-central-1.amazonaws.com/ (the region's endpoint)."
    }
}

Describe 'Authentication failures' {
    It 'a wrong secret is AwsSignatureInvalid, naming the credential source and never the secret' {
        $error.Clear()
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'x.enc') -Force -ProfileName wrongsecret -ProfileLocation $profiles -EndpointUrl $endpoint -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'AwsSignatureInvalid,*'
        $failure[0].Exception.Message | Should -BeLike "*profile 'wrongsecret'*"
        "$($failure[0])$($failure[0].Exception)" | Should -Not -BeLike '*not-the-secret*'
    }

    It 'an unknown access key is AwsAccessKeyUnknown' {
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'x.enc') -Force -AccessKey AKIAUNKNOWNUNKNOWN00 -SecretKey x -Region $region -EndpointUrl $endpoint -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'AwsAccessKeyUnknown,*'
        $failure[0].Exception.Message | Should -BeLike '*-AccessKey/-SecretKey (access key AKIA...WN00)*'
    }

    It 'a session token that does not go with the key is AwsTokenInvalid' {
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'x.enc') -Force -AK $ak -SK $sk -ST 'a-token-nobody-issued' -Region $region -EndpointUrl $endpoint -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'AwsTokenInvalid,*'
        "$($failure[0])" | Should -Not -BeLike '*a-token-nobody-issued*'
    }

    It 'Get-KmsEnclavePolicy reports the same ids' {
        Get-KmsEnclavePolicy -KeyId $keyArn -AccessKey $ak -SecretKey 'not-the-secret' -Region $region -EndpointUrl $endpoint -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'AwsSignatureInvalid,*'
    }
}

Describe 'Timeouts, user agent and grant tokens' {
    BeforeAll {
        $silent = [NitroEnclaveTests.LoopbackHttp]::new($true)
    }

    AfterAll {
        $silent.Dispose()
    }

    It 'a KMS that never answers fails after -TimeoutSec with KmsUnavailable; the request carries the NitroEnclave user agent and the grant tokens' {
        Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'x.enc') -Force -AccessKey $ak -SecretKey $sk -Region $region -EndpointUrl $silent.Url -TimeoutSec 1 -GrantToken 'grant-one', 'grant-two' -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'KmsUnavailable,*'
        $failure[0].Exception.Message | Should -BeLike '*no answer within 1 s (-TimeoutSec)*'
        $request = @($silent.Requests)[0]
        $request.Headers['User-Agent'] | Should -BeLike "NitroEnclave/$((Get-Module NitroEnclave).Version.ToString(3)) *"
        ($request.Body | ConvertFrom-Json).GrantTokens | Should -Be @('grant-one', 'grant-two')
    }

    It 'Get-KmsEnclavePolicy takes -TimeoutSec too' {
        Get-KmsEnclavePolicy -KeyId $keyArn -AccessKey $ak -SecretKey $sk -Region $region -EndpointUrl $silent.Url -TimeoutSec 1 -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'KmsUnavailable,*'
    }

    It 'grant tokens go with Decrypt too; the local KMS accepts a GenerateDataKey that carries one' {
        $protected = Protect-EnclaveFile -Path $photo -KeyId $keyArn -Destination (Join-Path $TestDrive 'g.enc') -Force -AccessKey $ak -SecretKey $sk -Region $region -EndpointUrl $endpoint -GrantToken 'grant-one'
        Unprotect-EnclaveFile -Path $protected.Destination -Destination (Join-Path $TestDrive 'g.out') -Force -AccessKey $ak -SecretKey $sk -Region $region -EndpointUrl $silent.Url -TimeoutSec 1 -GrantToken 'grant-two' -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'KmsUnavailable,*'
        $decrypt = @($silent.Requests | Where-Object { $_.Headers['X-Amz-Target'] -eq 'TrentService.Decrypt' })[0]
        ($decrypt.Body | ConvertFrom-Json).GrantTokens | Should -Be @('grant-two')
    }
}

Describe 'The AWS SDK''s own objects, as AWS.Tools hands them over' {
    It '-Region takes a RegionEndpoint and $StoredAWSCredentials an AWSPSCredentials around SDK credentials' {
        # AWS.Tools loads its AWSSDK.Core into the default load context; the module's copy lives in its own.
        $script = @'
$sdk = Join-Path (Split-Path $ModulePath) 'deps/AWSSDK.Core.dll'
Add-Type -Path $sdk
Add-Type -ReferencedAssemblies $sdk -IgnoreWarnings -TypeDefinition @"
namespace Amazon.PowerShell.Common {
    public class AWSPSCredentials {
        public AWSPSCredentials(Amazon.Runtime.AWSCredentials credentials, string name) { Credentials = credentials; Name = name; }
        internal Amazon.Runtime.AWSCredentials Credentials { get; private set; }
        internal string Name { get; private set; }
        public override string ToString() { return Name; }
    }
}
"@
$keys = $args
Protect-Photo @{ AccessKey = $keys[0]; SecretKey = $keys[1]; Region = [Amazon.RegionEndpoint]::GetBySystemName($keys[2]); EndpointUrl = $Endpoint }
Protect-Photo @{ AccessKey = $keys[0]; SecretKey = $keys[1]; Region = [Amazon.RegionEndpoint]::APSouth1; EndpointUrl = $Endpoint }
$StoredAWSCredentials = [Amazon.PowerShell.Common.AWSPSCredentials]::new([Amazon.Runtime.BasicAWSCredentials]::new($keys[0], $keys[1]), 'Supplied Key Parameters')
$StoredAWSRegion = $keys[2]
Protect-Photo @{ EndpointUrl = $Endpoint }
$StoredAWSCredentials = [Amazon.PowerShell.Common.AWSPSCredentials]::new([Amazon.Runtime.SessionAWSCredentials]::new($keys[0], $keys[1], 'a-token-nobody-issued'), 'session')
Protect-Photo @{ EndpointUrl = $Endpoint }
'@.Replace('$keys = $args', "`$keys = @('$ak', '$sk', '$region')")
        Invoke-InFreshSession $script | Should -Be @('ok', 'AwsSignatureInvalid', 'ok', 'AwsTokenInvalid')
    }
}

Describe 'Invoke-EnclaveDetection: the enclave''s KMS call with the parent''s credentials' {
    BeforeAll {
        $simulation = Start-EnclaveSimulation -DataPath (Join-Path $TestDrive 'sim')
        $simulationKey = $simulation.AccessKey
        $plain = Join-Path $TestDrive 'air-show.jpg'
        Copy-Item -LiteralPath (Join-Path (Split-Path (Split-Path $PSScriptRoot -Parent) -Parent) 'tests/data/detection/air-show.jpg') -Destination $plain
        $encrypted = (Protect-EnclaveFile -LiteralPath $plain -Force).Destination
        Get-EnclavePcr -Simulation | Set-KmsEnclavePolicy -Force
    }

    AfterAll {
        Stop-EnclaveSimulation -ErrorAction SilentlyContinue
    }

    It 'detects with the session defaults, and with -GrantToken' {
        (Invoke-EnclaveDetection -LiteralPath $encrypted -GrantToken 'grant-for-the-enclave').Objects.Label | Should -Contain 'airplane'
    }

    It 'a wrong secret the enclave signs with is AwsSignatureInvalid naming where the credentials came from, never the secret' {
        Invoke-EnclaveDetection -LiteralPath $encrypted -AccessKey $simulationKey -SecretKey 'not-the-secret' -ErrorAction SilentlyContinue -ErrorVariable failure | Should -BeNullOrEmpty
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'AwsSignatureInvalid,*'
        $failure[0].Exception.Message | Should -BeLike '*The credentials came from -AccessKey/-SecretKey.'
        "$($failure[0])$($failure[0].Exception)" | Should -Not -BeLike '*not-the-secret*'
    }

    It 'an unknown access key is AwsAccessKeyUnknown, a foreign session token AwsTokenInvalid' {
        Invoke-EnclaveDetection -LiteralPath $encrypted -AccessKey AKIAUNKNOWNUNKNOWN00 -SecretKey x -ErrorAction SilentlyContinue -ErrorVariable unknown | Out-Null
        $unknown[0].FullyQualifiedErrorId | Should -BeLike 'AwsAccessKeyUnknown,*'
        $secret = $simulation.Credential.GetCredentials().SecretKey
        Invoke-EnclaveDetection -LiteralPath $encrypted -AK $simulationKey -SK $secret -ST 'a-token-nobody-issued' -ErrorAction SilentlyContinue -ErrorVariable token | Out-Null
        $token[0].FullyQualifiedErrorId | Should -BeLike 'AwsTokenInvalid,*'
    }
}
