using Amazon.SecurityToken.Model;
using NitroEnclave.Aws;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>The module's caller lookup (Core's AwsCallerIdentity, as Set-KmsEnclavePolicy uses it) against the local STS.</summary>
public sealed class CallerIdentityTests : IAsyncLifetime
{
    private const string RoleArn = "arn:aws:iam::111122223333:role/KeyAdmin";
    private LocalKmsHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync();
        LocalKmsData.OpenPrincipals(_host.DataPath).AddRole(RoleArn, ["arn:aws:iam::111122223333:user/admin"], []);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private AwsConnectionSettings Settings(string accessKey, string secretKey, string? sessionToken = null, string? endpoint = null) => new()
    {
        AccessKey = accessKey,
        SecretKey = secretKey,
        SessionToken = sessionToken,
        Region = "eu-west-1",
        EndpointUrl = endpoint ?? _host.Server.Endpoint.ToString(),
        CredentialSource = "-AccessKey/-SecretKey",
    };

    [Fact]
    public async Task The_endpoint_URL_of_the_settings_answers_for_a_user_and_for_an_assumed_role()
    {
        var admin = Settings(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);
        Assert.Equal("arn:aws:iam::111122223333:user/admin", (await AwsCallerIdentity.GetAsync(admin)).Arn);

        using var sts = AwsClientFactory.CreateStsClient(admin);
        var session = (await sts.AssumeRoleAsync(new AssumeRoleRequest { RoleArn = RoleArn, RoleSessionName = "lockout" })).Credentials;
        var caller = await AwsCallerIdentity.GetAsync(Settings(session.AccessKeyId, session.SecretAccessKey, session.SessionToken));
        Assert.Equal(("arn:aws:sts::111122223333:assumed-role/KeyAdmin/lockout", "111122223333"), (caller.Arn, caller.Account));
    }

    [Fact]
    public async Task A_refused_or_unreachable_STS_is_AwsCallerIdentityUnavailable_naming_the_answer_never_the_secret()
    {
        const string WrongSecret = "wrong-secret-wrong-secret-wrong-secret-00";
        var refused = await Assert.ThrowsAsync<NitroEnclaveException>(() => AwsCallerIdentity.GetAsync(Settings(_host.Server.AdminAccessKeyId, WrongSecret)));
        Assert.Equal((AwsCallerIdentity.LookupFailed, ErrorKind.PermissionDenied), (refused.ErrorId, refused.Kind));
        Assert.Contains("SignatureDoesNotMatch", refused.Message, StringComparison.Ordinal);
        Assert.Contains("-AccessKey/-SecretKey", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(WrongSecret, refused.Message, StringComparison.Ordinal);

        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var closed = $"http://127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}/";
        listener.Stop();
        var unreachable = await Assert.ThrowsAsync<NitroEnclaveException>(() =>
            AwsCallerIdentity.GetAsync(Settings(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey, endpoint: closed)));
        Assert.Equal((AwsCallerIdentity.LookupFailed, ErrorKind.ConnectionError), (unreachable.ErrorId, unreachable.Kind));
        Assert.Contains("STS could not be reached", unreachable.Message, StringComparison.Ordinal);
    }
}
