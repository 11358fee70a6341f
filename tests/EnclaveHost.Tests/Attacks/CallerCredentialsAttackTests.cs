using System.Formats.Cbor;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests.Attacks;

/// <summary>
/// The parent controls the credentials and grant tokens the server signs its KMS Decrypt with. Wrong ones must come
/// back as the authentication failure they are (its own code, not KmsAccessDenied), without echoing a secret or a
/// token; malformed grant tokens are refused before any KMS traffic; and the server serves on.
/// </summary>
public sealed class CallerCredentialsAttackTests(HostileParentFixture parent) : IClassFixture<HostileParentFixture>
{
    public static TheoryData<string, string?, string?, string> WrongCredentials() => new()
    {
        { "a secret that does not belong to the access key", "not-the-secret-value", null, ProtocolErrorCodes.AwsSignatureInvalid },
        { "a session token nobody issued", null, "a-token-nobody-issued", ProtocolErrorCodes.AwsTokenInvalid },
    };

    [Theory]
    [MemberData(nameof(WrongCredentials))]
    public async Task Wrong_caller_credentials_are_an_authentication_failure_that_echoes_nothing(string why, string? secret, string? token, string code)
    {
        var credentials = new AwsCallerCredentials
        {
            AccessKeyId = parent.ParentCredentials.AccessKeyId,
            SecretAccessKey = secret ?? parent.ParentCredentials.SecretAccessKey,
            SessionToken = token,
            Region = parent.ParentCredentials.Region,
        };

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            parent.Client().DetectAsync(new DetectRequest { EncryptedFile = parent.EncryptedImage, Credentials = credentials }, CancellationToken.None));

        Assert.True(error.Code == code, $"{why}: {error.Code} {error.Message}");
        Assert.Equal(ErrorKind.SecurityError, error.Kind);
        Assert.DoesNotContain(credentials.SecretAccessKey, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("a-token-nobody-issued", error.Message, StringComparison.Ordinal);
        Assert.True(parent.ServerIsRunning);
        Assert.Equal(5, (await parent.DetectAirShowAsync()).Objects.Count(o => o.Label == "airplane"));
    }

    [Fact]
    public async Task An_unknown_access_key_is_AwsAccessKeyUnknown()
    {
        var credentials = new AwsCallerCredentials { AccessKeyId = "AKIAUNKNOWNUNKNOWN00", SecretAccessKey = "x", Region = parent.ParentCredentials.Region };

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            parent.Client().DetectAsync(new DetectRequest { EncryptedFile = parent.EncryptedImage, Credentials = credentials }, CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.AwsAccessKeyUnknown, error.Code);
    }

    public static TheoryData<string, Action<CborWriter>> MalformedGrantTokens() => new()
    {
        { "eleven tokens", w => Strings(w, Enumerable.Repeat("grant", ProtocolCodec.MaxGrantTokens + 1)) },
        { "an empty token", w => Strings(w, [string.Empty]) },
        { "a token longer than KMS takes", w => Strings(w, [new string('g', ProtocolCodec.MaxGrantTokenLength + 1)]) },
        { "a number for a token", w => { w.WriteStartArray(1); w.WriteInt32(7); w.WriteEndArray(); } },
        { "a map for the list", w => { w.WriteStartMap(0); w.WriteEndMap(); } },
    };

    [Theory]
    [MemberData(nameof(MalformedGrantTokens))]
    public async Task Malformed_grant_tokens_are_BadRequest_before_any_KMS_traffic(string why, Action<CborWriter> grantTokens)
    {
        var kmsTrafficBefore = parent.KmsTraffic.SentText().Length;

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(async () => ProtocolCodec.DecodeDetectResponse(await parent.SendRawAsync(Detect(grantTokens))));

        Assert.True(error.Code == ProtocolErrorCodes.BadRequest, $"{why}: {error.Code} {error.Message}");
        Assert.Equal(kmsTrafficBefore, parent.KmsTraffic.SentText().Length);
        Assert.True(parent.ServerIsRunning);
    }

    [Fact]
    public async Task Grant_tokens_go_with_the_servers_Decrypt_and_its_user_agent_names_the_module()
    {
        var kmsTrafficBefore = parent.KmsTraffic.SentText().Length;
        var credentials = new AwsCallerCredentials
        {
            AccessKeyId = parent.ParentCredentials.AccessKeyId,
            SecretAccessKey = parent.ParentCredentials.SecretAccessKey,
            Region = parent.ParentCredentials.Region,
            GrantTokens = ["grant-for-the-enclave"],
        };

        var response = await parent.Client().DetectAsync(new DetectRequest { EncryptedFile = parent.EncryptedImage, Credentials = credentials }, CancellationToken.None);

        Assert.Equal(5, response.Objects.Count(o => o.Label == "airplane"));
        var sent = parent.KmsTraffic.SentText()[kmsTrafficBefore..];
        Assert.Contains("\"GrantTokens\":[\"grant-for-the-enclave\"]", sent, StringComparison.Ordinal);
        Assert.Contains("User-Agent: NitroEnclave/", sent, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A Detect of the data owner's file with the parent's credentials and the grant tokens <paramref name="grantTokens"/> writes.</summary>
    private byte[] Detect(Action<CborWriter> grantTokens)
    {
        var credentials = parent.ParentCredentials;
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        w.WriteTextString("v");
        w.WriteInt32(EnclaveProtocol.Version);
        Text(w, "op", "Detect");
        w.WriteTextString("file");
        w.WriteByteString(parent.EncryptedImage);
        w.WriteTextString("aws");
        w.WriteStartMap(4);
        Text(w, "accessKeyId", credentials.AccessKeyId);
        Text(w, "secretAccessKey", credentials.SecretAccessKey);
        Text(w, "region", credentials.Region);
        w.WriteTextString("grantTokens");
        grantTokens(w);
        w.WriteEndMap();
        w.WriteEndMap();
        return w.Encode();
    }

    private static void Strings(CborWriter w, IEnumerable<string> values)
    {
        var list = values.ToList();
        w.WriteStartArray(list.Count);
        foreach (var value in list)
        {
            w.WriteTextString(value);
        }

        w.WriteEndArray();
    }

    private static void Text(CborWriter w, string key, string value)
    {
        w.WriteTextString(key);
        w.WriteTextString(value);
    }
}
