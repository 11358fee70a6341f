using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Tests;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>Identity: SigV4 against the configured access keys, as KMS checks it.</summary>
public sealed class SigV4Tests : IAsyncLifetime
{
    private LocalKmsHost _host = null!;

    public async Task InitializeAsync() => _host = await LocalKmsHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task The_SDK_signing_for_any_region_is_accepted()
    {
        using var kms = _host.Client(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey, region: "eu-west-1");
        Assert.NotNull((await kms.ListKeysAsync(new ListKeysRequest())).Keys);
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
