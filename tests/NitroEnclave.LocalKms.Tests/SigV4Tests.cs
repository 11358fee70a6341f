using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Tests;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>Identity: SigV4 against the configured access keys and the endpoint's region, as KMS checks it.</summary>
public sealed class SigV4Tests : IAsyncLifetime
{
    private LocalKmsHost _host = null!;

    public async Task InitializeAsync() => _host = await LocalKmsHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private HandSignedClient HandSigned() => new(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);

    [Fact]
    public async Task The_SDK_signing_for_the_endpoint_region_is_accepted()
    {
        using var kms = _host.Client(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey, region: "us-east-1");
        Assert.NotNull((await kms.ListKeysAsync(new ListKeysRequest())).Keys);
    }

    [Theory]
    [InlineData("eu-west-1")]
    [InlineData("x")]
    public async Task A_signature_scoped_to_another_region_is_InvalidSignatureException(string region)
    {
        using var kms = _host.Client(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey, region: region);
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => kms.ListKeysAsync(new ListKeysRequest()));
        Assert.Equal("InvalidSignatureException", error.ErrorCode);
        Assert.Equal($"Credential should be scoped to a valid region, not '{region}'. ", error.Message);
    }

    [Fact]
    public async Task An_unsigned_X_Amz_Target_is_refused_so_a_DescribeKey_signature_cannot_be_replayed_as_GetKeyPolicy()
    {
        using var kms = _host.AdminClient();
        var keyId = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        var body = $$"""{"KeyId":"{{keyId}}"}""";
        string[] withoutTarget = ["content-type", "host", "x-amz-date"];
        using var raw = HandSigned();

        var unsigned = await raw.SendAsync("TrentService.DescribeKey", body, signedHeaders: withoutTarget);
        Assert.Equal((400, "InvalidSignatureException", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."), (unsigned.Status, unsigned.Type, unsigned.Message));

        var replayed = await raw.SendAsync("TrentService.DescribeKey", body, signedHeaders: withoutTarget, sentTarget: "TrentService.GetKeyPolicy");
        Assert.Equal((400, "InvalidSignatureException"), (replayed.Status, replayed.Type));
        Assert.DoesNotContain("Statement", replayed.Body, StringComparison.Ordinal);

        // Signed as it must be, the target is part of the signature: moving it to another operation breaks it.
        var moved = await raw.SendAsync("TrentService.DescribeKey", body, sentTarget: "TrentService.GetKeyPolicy");
        Assert.Equal((400, "InvalidSignatureException"), (moved.Status, moved.Type));
        Assert.StartsWith("The request signature we calculated does not match", moved.Message, StringComparison.Ordinal);
        Assert.Equal(200, (await raw.SendAsync("TrentService.DescribeKey", body)).Status);
    }

    [Theory]
    [InlineData("host", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    [InlineData("x-amz-date", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")]
    public async Task Host_and_X_Amz_Date_must_be_signed(string header, string message)
    {
        using var raw = HandSigned();
        var answer = await raw.SendAsync("TrentService.ListKeys", signedHeaders: [.. HandSignedClient.StandardSignedHeaders.Where(h => h != header)]);
        Assert.Equal((400, "InvalidSignatureException", message), (answer.Status, answer.Type, answer.Message));
    }

    [Fact]
    public async Task A_session_token_the_endpoint_never_issued_is_UnrecognizedClientException()
    {
        using var kms = new AmazonKeyManagementServiceClient(
            new SessionAWSCredentials(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey, "IQoJb3JpZ2luX2VjEMadeUpTokenValue"),
            new AmazonKeyManagementServiceConfig { ServiceURL = _host.Server.Endpoint.ToString(), AuthenticationRegion = _host.Server.Region, MaxErrorRetry = 0 });
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => kms.ListKeysAsync(new ListKeysRequest()));
        Assert.Equal("UnrecognizedClientException", error.ErrorCode);
        Assert.Equal("The security token included in the request is invalid.", error.Message);

        // Unsigned, the same made-up token is refused the same way.
        using var raw = HandSigned();
        var answer = await raw.SendAsync("TrentService.ListKeys", extraHeaders: new Dictionary<string, string> { ["x-amz-security-token"] = "made-up" });
        Assert.Equal((400, "UnrecognizedClientException"), (answer.Status, answer.Type));
    }

    [Fact]
    public async Task A_wrong_secret_key_is_InvalidSignatureException()
    {
        using var kms = _host.Client(_host.Server.AdminAccessKeyId, "wrong-secret-wrong-secret-wrong-secret-00");
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => kms.ListKeysAsync(new ListKeysRequest()));
        Assert.Equal("InvalidSignatureException", error.ErrorCode);
        Assert.StartsWith("The request signature we calculated does not match the signature you provided.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_access_key_is_UnrecognizedClientException()
    {
        using var kms = _host.Client("AKIAUNKNOWNUNKNOWN00", _host.Server.AdminSecretAccessKey);
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => kms.ListKeysAsync(new ListKeysRequest()));
        Assert.Equal("UnrecognizedClientException", error.ErrorCode);
        Assert.Equal("The security token included in the request is invalid.", error.Message);
    }

    [Fact]
    public async Task A_request_signed_more_than_five_minutes_ago_is_InvalidSignatureException_signature_expired()
    {
        using var raw = new RawKmsClient(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);
        var (status, type, message, _) = await raw.SendAsync("TrentService.ListKeys", "{}", DateTimeOffset.UtcNow.AddMinutes(-6));
        Assert.Equal((400, "InvalidSignatureException"), (status, type));
        Assert.Matches(@"^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$", message);

        (status, type, message, _) = await raw.SendAsync("TrentService.ListKeys", "{}", DateTimeOffset.UtcNow.AddMinutes(6));
        Assert.Equal((400, "InvalidSignatureException"), (status, type));
        Assert.StartsWith("Signature not yet current:", message, StringComparison.Ordinal);

        (status, _, _, _) = await raw.SendAsync("TrentService.ListKeys", "{}", DateTimeOffset.UtcNow.AddMinutes(-4));
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task A_credential_scoped_to_another_service_is_InvalidSignatureException()
    {
        using var raw = new RawKmsClient(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);
        var (status, type, message, _) = await raw.SendAsync("TrentService.ListKeys", "{}"u8.ToArray(), service: "s3");
        Assert.Equal((400, "InvalidSignatureException"), (status, type));
        Assert.Contains("'kms'", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_changed_after_signing_is_InvalidSignatureException()
    {
        using var raw = new RawKmsClient(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);
        var (status, type, _, _) = await raw.SendAsync("TrentService.ListKeys", "{}"u8.ToArray(), sentBody: "{\"Limit\":1}"u8.ToArray());
        Assert.Equal((400, "InvalidSignatureException"), (status, type));
    }
}
