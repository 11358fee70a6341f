using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Microsoft.Extensions.Time.Testing;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>
/// STS on the local KMS port through the real AWS SDK for .NET: GetCallerIdentity, AssumeRole and
/// AssumeRoleWithWebIdentity, the sessions they issue used against KMS as the assumed role, and what STS refuses.
/// </summary>
public sealed class StsTests : IAsyncLifetime
{
    private const string Account = "111122223333";
    private const string AdminArn = $"arn:aws:iam::{Account}:user/admin";
    private const string OperatorRoleArn = $"arn:aws:iam::{Account}:role/ops/Operator";
    private const string AliceArn = $"arn:aws:iam::{Account}:user/alice";
    private const string WorkloadRoleArn = $"arn:aws:iam::{Account}:role/Workload";

    private LocalKmsHost _host = null!;
    private Principal _alice = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync();
        var directory = LocalKmsData.OpenPrincipals(_host.DataPath);
        _alice = directory.Add(AliceArn);
        directory.AddRole(OperatorRoleArn, [AdminArn], []);
        directory.AddRole(WorkloadRoleArn, [], ["system:serviceaccount:default:workload"]);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private AmazonSecurityTokenServiceClient Sts(AWSCredentials credentials, string? region = null) =>
        new(credentials, new AmazonSecurityTokenServiceConfig
        {
            ServiceURL = _host.Server.Endpoint.ToString(),
            AuthenticationRegion = region ?? _host.Server.Region,
            MaxErrorRetry = 0,
        });

    private AmazonSecurityTokenServiceClient AdminSts(string? region = null) =>
        Sts(new BasicAWSCredentials(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey), region);

    private AmazonKeyManagementServiceClient Kms(Amazon.SecurityToken.Model.Credentials session) =>
        new(new SessionAWSCredentials(session.AccessKeyId, session.SecretAccessKey, session.SessionToken), new AmazonKeyManagementServiceConfig
        {
            ServiceURL = _host.Server.Endpoint.ToString(),
            AuthenticationRegion = _host.Server.Region,
            MaxErrorRetry = 0,
        });

    private async Task<Amazon.SecurityToken.Model.Credentials> AssumeOperatorAsync(string sessionName = "admin-session")
    {
        using var sts = AdminSts();
        return (await sts.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = OperatorRoleArn, RoleSessionName = sessionName })).Credentials;
    }

    private string MintToken(string subject, TimeSpan lifetime, TimeProvider? time = null) =>
        new WebIdentityTokens(MasterKey.LoadOrCreate(_host.DataPath), time ?? TimeProvider.System).Mint(subject, lifetime);

    private async Task<string> CreateKeyAsync(string policy)
    {
        using var admin = _host.AdminClient();
        return (await admin.CreateKeyAsync(new CreateKeyRequest { Policy = policy, BypassPolicyLockoutSafetyCheck = true })).KeyMetadata.KeyId;
    }

    private static string Allow(string principal, string action) =>
        $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"{{principal}}"},"Action":"{{action}}","Resource":"*"}]}""";

    [Fact]
    public async Task GetCallerIdentity_names_an_IAM_user_with_its_account_and_unique_id()
    {
        using var sts = AdminSts();
        var identity = await sts.GetCallerIdentityAsync(new GetCallerIdentityRequest());
        Assert.Equal((AdminArn, Account), (identity.Arn, identity.Account));
        Assert.Matches("^AIDA[A-Z2-7]{16}$", identity.UserId);

        using var alice = Sts(new BasicAWSCredentials(_alice.AccessKeyId, _alice.SecretAccessKey));
        Assert.Equal(AliceArn, (await alice.GetCallerIdentityAsync(new GetCallerIdentityRequest())).Arn);
    }

    [Fact]
    public async Task AssumeRole_issues_session_credentials_that_GetCallerIdentity_names_as_the_assumed_role()
    {
        using var sts = AdminSts();
        var before = DateTime.UtcNow;
        var assumed = await sts.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = OperatorRoleArn, RoleSessionName = "admin-session", DurationSeconds = 900 });

        Assert.Equal($"arn:aws:sts::{Account}:assumed-role/Operator/admin-session", assumed.AssumedRoleUser.Arn);
        Assert.Matches("^AROA[A-Z2-7]{16}:admin-session$", assumed.AssumedRoleUser.AssumedRoleId);
        Assert.Matches("^ASIA[A-Z2-7]{16}$", assumed.Credentials.AccessKeyId);
        Assert.False(string.IsNullOrEmpty(assumed.Credentials.SessionToken));
        Assert.InRange(assumed.Credentials.Expiration!.Value.ToUniversalTime(), before.AddSeconds(899), DateTime.UtcNow.AddSeconds(901));

        using var session = Sts(new SessionAWSCredentials(assumed.Credentials.AccessKeyId, assumed.Credentials.SecretAccessKey, assumed.Credentials.SessionToken));
        var identity = await session.GetCallerIdentityAsync(new GetCallerIdentityRequest());
        Assert.Equal((assumed.AssumedRoleUser.Arn, Account, assumed.AssumedRoleUser.AssumedRoleId), (identity.Arn, identity.Account, identity.UserId));
    }

    [Fact]
    public async Task STS_accepts_a_signature_for_any_region_while_KMS_keeps_its_own()
    {
        using var sts = AdminSts(region: "eu-west-1");
        Assert.Equal(AdminArn, (await sts.GetCallerIdentityAsync(new GetCallerIdentityRequest())).Arn);
    }

    [Fact]
    public async Task Session_credentials_are_evaluated_by_key_policies_as_the_assumed_role_and_as_its_role()
    {
        var session = await AssumeOperatorAsync();
        using var kms = Kms(session);
        var byRole = await CreateKeyAsync(Allow(OperatorRoleArn, "kms:*"));
        var bySession = await CreateKeyAsync(Allow($"arn:aws:sts::{Account}:assumed-role/Operator/admin-session", "kms:Encrypt"));
        var byOtherSession = await CreateKeyAsync(Allow($"arn:aws:sts::{Account}:assumed-role/Operator/someone-else", "kms:Encrypt"));
        var byPrincipalArn = await CreateKeyAsync(
            """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":""" + $"\"{OperatorRoleArn}\"" + "}}}]}");

        foreach (var keyId in new[] { byRole, bySession, byPrincipalArn })
        {
            var encrypted = await kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = new MemoryStream("secret"u8.ToArray()) });
            Assert.NotEmpty(encrypted.CiphertextBlob.ToArray());
        }

        var denied = await Assert.ThrowsAnyAsync<AmazonKeyManagementServiceException>(() => kms.EncryptAsync(new EncryptRequest { KeyId = byOtherSession, Plaintext = new MemoryStream([1]) }));
        Assert.Equal("AccessDeniedException", denied.ErrorCode);
        Assert.StartsWith($"User: arn:aws:sts::{Account}:assumed-role/Operator/admin-session is not authorized to perform: kms:Encrypt", denied.Message, StringComparison.Ordinal);

        // KMS's own lockout check sees the session through its role: a policy naming the role keeps the session's PutKeyPolicy.
        await kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = byRole, PolicyName = "default", Policy = Allow(OperatorRoleArn, "kms:*") });
        var lockout = await Assert.ThrowsAsync<Amazon.KeyManagementService.Model.MalformedPolicyDocumentException>(() =>
            kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = byRole, PolicyName = "default", Policy = Allow(AdminArn, "kms:*") }));
        Assert.Contains("will not allow you to update the key policy", lockout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_session_can_assume_a_role_that_trusts_its_role()
    {
        LocalKmsData.OpenPrincipals(_host.DataPath).AddRole($"arn:aws:iam::{Account}:role/Chained", [OperatorRoleArn], []);
        var session = await AssumeOperatorAsync();
        using var sts = Sts(new SessionAWSCredentials(session.AccessKeyId, session.SecretAccessKey, session.SessionToken));
        var chained = await sts.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = $"arn:aws:iam::{Account}:role/Chained", RoleSessionName = "chained" });
        Assert.Equal($"arn:aws:sts::{Account}:assumed-role/Chained/chained", chained.AssumedRoleUser.Arn);
    }

    [Theory]
    [InlineData($"arn:aws:iam::{Account}:role/DoesNotExist")]
    [InlineData(OperatorRoleArn)]
    public async Task AssumeRole_of_an_unknown_role_or_one_whose_trust_does_not_name_the_caller_is_AccessDenied(string roleArn)
    {
        using var alice = Sts(new BasicAWSCredentials(_alice.AccessKeyId, _alice.SecretAccessKey));
        var error = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() =>
            alice.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = roleArn, RoleSessionName = "alice" }));
        Assert.Equal(("AccessDenied", System.Net.HttpStatusCode.Forbidden), (error.ErrorCode, error.StatusCode));
        Assert.Equal($"User: {AliceArn} is not authorized to perform: sts:AssumeRole on resource: {roleArn}", error.Message);
    }

    [Fact]
    public async Task A_role_defined_without_trust_can_be_assumed_by_its_own_account_only()
    {
        LocalKmsData.OpenPrincipals(_host.DataPath).AddRole($"arn:aws:iam::{Account}:role/AccountWide", [], []);
        var stranger = LocalKmsData.OpenPrincipals(_host.DataPath).Add("arn:aws:iam::444455556666:user/stranger");
        using var alice = Sts(new BasicAWSCredentials(_alice.AccessKeyId, _alice.SecretAccessKey));
        Assert.NotNull((await alice.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = $"arn:aws:iam::{Account}:role/AccountWide", RoleSessionName = "alice" })).Credentials);

        using var other = Sts(new BasicAWSCredentials(stranger.AccessKeyId, stranger.SecretAccessKey));
        var error = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() =>
            other.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = $"arn:aws:iam::{Account}:role/AccountWide", RoleSessionName = "stranger" }));
        Assert.Equal("AccessDenied", error.ErrorCode);
    }

    [Theory]
    [InlineData("Policy", "session policies")]
    [InlineData("DurationSeconds", "over the role's maximum")]
    [InlineData("ExternalId", "an external id, which no role here checks")]
    public async Task AssumeRole_refuses_what_it_cannot_honour_with_ValidationError(string member, string because)
    {
        var request = new AssumeRoleRequest { RoleArn = OperatorRoleArn, RoleSessionName = "admin-session" };
        switch (member)
        {
            case "Policy": request.Policy = Allow("*", "kms:*"); break;
            case "DurationSeconds": request.DurationSeconds = 7200; break;
            default: request.ExternalId = "expected-by-nobody"; break;
        }

        using var sts = AdminSts();
        var error = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() => sts.AssumeRoleAsync(request));
        Assert.True(error.ErrorCode == "ValidationError", $"{because}: {error.ErrorCode} {error.Message}");
    }

    [Fact]
    public async Task AssumeRoleWithWebIdentity_unsigned_with_a_token_of_the_endpoint_provider_issues_a_session()
    {
        using var anonymous = Sts(new AnonymousAWSCredentials());
        var assumed = await anonymous.AssumeRoleWithWebIdentityAsync(new AssumeRoleWithWebIdentityRequest
        {
            RoleArn = WorkloadRoleArn,
            RoleSessionName = "pod",
            WebIdentityToken = MintToken("system:serviceaccount:default:workload", TimeSpan.FromMinutes(10)),
        });

        Assert.Equal(("system:serviceaccount:default:workload", "sts.amazonaws.com", WebIdentityTokens.Issuer), (assumed.SubjectFromWebIdentityToken, assumed.Audience, assumed.Provider));
        Assert.Equal($"arn:aws:sts::{Account}:assumed-role/Workload/pod", assumed.AssumedRoleUser.Arn);
        using var session = Sts(new SessionAWSCredentials(assumed.Credentials.AccessKeyId, assumed.Credentials.SecretAccessKey, assumed.Credentials.SessionToken));
        Assert.Equal(assumed.AssumedRoleUser.Arn, (await session.GetCallerIdentityAsync(new GetCallerIdentityRequest())).Arn);
    }

    [Fact]
    public async Task AssumeRoleWithWebIdentity_refuses_a_tampered_an_expired_and_an_untrusted_token()
    {
        var good = MintToken("system:serviceaccount:default:workload", TimeSpan.FromMinutes(10));
        var parts = good.Split('.');
        var forgedPayload = Convert.ToBase64String(Encoding.UTF8.GetBytes("""{"iss":"https://localkms.nitroenclave.invalid","sub":"system:serviceaccount:default:workload","aud":"sts.amazonaws.com","exp":9999999999}""")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var past = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-2));
        using var anonymous = Sts(new AnonymousAWSCredentials());
        Task<AssumeRoleWithWebIdentityResponse> Assume(string token) => anonymous.AssumeRoleWithWebIdentityAsync(
            new AssumeRoleWithWebIdentityRequest { RoleArn = WorkloadRoleArn, RoleSessionName = "pod", WebIdentityToken = token });

        await Assert.ThrowsAsync<InvalidIdentityTokenException>(() => Assume($"{parts[0]}.{forgedPayload}.{parts[2]}"));
        await Assert.ThrowsAsync<InvalidIdentityTokenException>(() => Assume("not-a-jwt"));
        var foreignKey = new WebIdentityTokens(MasterKey.LoadOrCreate(Directory.CreateTempSubdirectory("other-kms-").FullName), TimeProvider.System)
            .Mint("system:serviceaccount:default:workload", TimeSpan.FromMinutes(10));
        await Assert.ThrowsAsync<InvalidIdentityTokenException>(() => Assume(foreignKey));

        var expired = await Assert.ThrowsAsync<ExpiredTokenException>(() => Assume(MintToken("system:serviceaccount:default:workload", TimeSpan.FromHours(1), past)));
        Assert.StartsWith("Token expired", expired.Message, StringComparison.Ordinal);

        var untrusted = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() => Assume(MintToken("system:serviceaccount:default:intruder", TimeSpan.FromMinutes(10))));
        Assert.Equal(("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"), (untrusted.ErrorCode, untrusted.Message));
    }

    [Fact]
    public async Task A_tampered_session_token_or_one_sent_with_another_access_key_is_refused_by_KMS_and_STS()
    {
        var session = await AssumeOperatorAsync();
        var other = await AssumeOperatorAsync("other-session");
        var token = Convert.FromBase64String(session.SessionToken);
        token[^5] ^= 1;
        var tampered = Convert.ToBase64String(token);

        foreach (var (accessKeyId, secret, sessionToken) in new[]
                 {
                     (session.AccessKeyId, session.SecretAccessKey, tampered),
                     (session.AccessKeyId, session.SecretAccessKey, other.SessionToken),
                     (session.AccessKeyId, session.SecretAccessKey, (string?)null),
                 })
        {
            AWSCredentials credentials = sessionToken is null ? new BasicAWSCredentials(accessKeyId, secret) : new SessionAWSCredentials(accessKeyId, secret, sessionToken);
            using var kms = new AmazonKeyManagementServiceClient(credentials, new AmazonKeyManagementServiceConfig { ServiceURL = _host.Server.Endpoint.ToString(), AuthenticationRegion = _host.Server.Region, MaxErrorRetry = 0 });
            var kmsError = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => kms.ListKeysAsync(new ListKeysRequest()));
            Assert.Equal("UnrecognizedClientException", kmsError.ErrorCode);

            using var sts = Sts(credentials);
            var stsError = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() => sts.GetCallerIdentityAsync(new GetCallerIdentityRequest()));
            Assert.Equal(("InvalidClientTokenId", "The security token included in the request is invalid."), (stsError.ErrorCode, stsError.Message));
        }
    }

    [Fact]
    public async Task STS_names_a_wrong_secret_SignatureDoesNotMatch_and_an_unknown_key_InvalidClientTokenId()
    {
        using var wrongSecret = Sts(new BasicAWSCredentials(_host.Server.AdminAccessKeyId, "wrong-secret-wrong-secret-wrong-secret-00"));
        var mismatch = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() => wrongSecret.GetCallerIdentityAsync(new GetCallerIdentityRequest()));
        Assert.Equal(("SignatureDoesNotMatch", System.Net.HttpStatusCode.Forbidden), (mismatch.ErrorCode, mismatch.StatusCode));

        using var unknown = Sts(new BasicAWSCredentials("AKIAUNKNOWNUNKNOWN00", "secret"));
        var error = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() => unknown.GetCallerIdentityAsync(new GetCallerIdentityRequest()));
        Assert.Equal("InvalidClientTokenId", error.ErrorCode);

        using var anonymous = Sts(new AnonymousAWSCredentials());
        var unsigned = await Assert.ThrowsAnyAsync<AmazonSecurityTokenServiceException>(() => anonymous.GetCallerIdentityAsync(new GetCallerIdentityRequest()));
        Assert.Equal("MissingAuthenticationToken", unsigned.ErrorCode);
    }

    /// <summary>A form body signed for sts as the administrator (or sent unsigned), as no SDK would send it.</summary>
    private async Task<(int Status, System.Xml.Linq.XDocument Answer)> SendFormAsync(string form, bool withSignature = true)
    {
        var body = Encoding.UTF8.GetBytes(form);
        var amzDate = HandSignedClient.AmzDate(DateTimeOffset.UtcNow);
        var headers = new Dictionary<string, string> { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8", ["x-amz-date"] = amzDate };
        using var request = new HttpRequestMessage(HttpMethod.Post, _host.Server.Endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", headers["content-type"]);
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        if (withSignature)
        {
            request.Headers.TryAddWithoutValidation("Authorization", HandSignedClient.Authorization(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey,
                _host.Server.Endpoint.Authority, headers, ["content-type", "host", "x-amz-date"], body, amzDate, _host.Server.Region, service: "sts"));
        }

        using var http = new HttpClient();
        using var response = await http.SendAsync(request);
        return ((int)response.StatusCode, System.Xml.Linq.XDocument.Parse(await response.Content.ReadAsStringAsync()));
    }

    public static TheoryData<string, bool> MalformedForms() => new()
    {
        { "", true },
        { "Action=GetCallerIdentity", true },
        { "Action=GetCallerIdentity&Version=2011-06-15&Version=2011-06-15", true },
        { "Action=DeleteRole&Version=2011-06-15", true },
        { "Action=%ZZ&Version=%", true },
        { "&&&===&", true },
        { "Action=AssumeRole&Version=2011-06-15", true },
        { "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:%01%02%03-padding-padding&RoleSessionName=s1", true },
        { "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:%ED%A0%80-lone-surrogate-pad&RoleSessionName=s1", true },
        { "Action=AssumeRole&Version=2011-06-15&RoleArn=" + OperatorRoleArn + "&RoleSessionName=s1&DurationSeconds=99999999999999999999", true },
        { "Action=AssumeRole&Version=2011-06-15&RoleArn=" + OperatorRoleArn + "&RoleSessionName=s1&DurationSeconds=-1", true },
        { "Action=AssumeRole&Version=2011-06-15&RoleArn=" + OperatorRoleArn + "&RoleSessionName=" + new string('x', 65), true },
        { "Action=AssumeRole&Version=2011-06-15&RoleArn=" + OperatorRoleArn + "&RoleSessionName=s1&Tags.member.1.Key=a&Tags.member.1.Value=b", true },
        { "Action=GetCallerIdentity&Version=2011-06-15", false },
        { "Action=AssumeRoleWithWebIdentity&Version=2011-06-15", false },
        { "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + WorkloadRoleArn + "&RoleSessionName=s1&WebIdentityToken=a.b.c", false },
        { "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + WorkloadRoleArn + "&RoleSessionName=s1&WebIdentityToken=" + new string('a', 20001), false },
        { "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + WorkloadRoleArn + "&RoleSessionName=s1&WebIdentityToken=eyJ9.eyJ9.", false },
    };

    [Theory]
    [MemberData(nameof(MalformedForms))]
    public async Task Every_malformed_STS_request_gets_a_4xx_STS_error_document(string form, bool withSignature)
    {
        var (status, answer) = await SendFormAsync(form, withSignature);

        Assert.InRange(status, 400, 499);
        System.Xml.Linq.XNamespace sts = "https://sts.amazonaws.com/doc/2011-06-15/";
        var error = answer.Root!.Element(sts + "Error")!;
        Assert.Equal("ErrorResponse", answer.Root.Name.LocalName);
        Assert.Equal("Sender", error.Element(sts + "Type")!.Value);
        Assert.False(string.IsNullOrEmpty(error.Element(sts + "Code")!.Value));
    }

    [Fact]
    public async Task A_web_identity_token_with_an_exp_past_any_date_is_InvalidIdentityToken()
    {
        var provider = new WebIdentityTokens(MasterKey.LoadOrCreate(_host.DataPath), TimeProvider.System);
        var far = new FakeTimeProvider(DateTimeOffset.MaxValue.AddYears(-1));
        var token = new WebIdentityTokens(MasterKey.LoadOrCreate(_host.DataPath), far).Mint("ci", TimeSpan.FromDays(800));
        var error = Assert.Throws<WebIdentityTokenException>(() => provider.Validate(token));
        Assert.False(error.Expired);
    }
}
