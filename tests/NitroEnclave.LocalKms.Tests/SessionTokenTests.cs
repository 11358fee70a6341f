using System.Text;
using Microsoft.AspNetCore.Http;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>
/// Temporary credentials at the verifier: a principal holding a session token is handed to the verifier directly, and
/// requests are built in memory (StsTests has the tokens the endpoint issues, through the SDK).
/// </summary>
public sealed class SessionTokenTests
{
    private const string Host = "127.0.0.1:4566";
    private const string Issued = "issued-session-token";
    private static readonly Principal Temporary = new("ASIATEMPORARY0000001", "arn:aws:sts::111122223333:assumed-role/Parent/i-1", "111122223333", "temporary-secret", Issued);
    private static readonly Principal LongTerm = new("AKIALONGTERM00000001", "arn:aws:iam::111122223333:user/admin", "111122223333", "long-term-secret");

    private static readonly Principal Expired = new("ASIAEXPIRED000000001", "arn:aws:sts::111122223333:assumed-role/Parent/i-2", "111122223333", "expired-secret", Issued)
    {
        RoleArn = "arn:aws:iam::111122223333:role/Parent",
        Expiration = DateTimeOffset.UtcNow.AddMinutes(-1),
    };

    private static readonly SigV4Verifier Verifier = new(
        (id, _) => new[] { Temporary, LongTerm, Expired }.FirstOrDefault(p => p.AccessKeyId == id), "us-east-1", TimeProvider.System);

    private static HttpRequest Request(Principal signer, string? token, bool signToken)
    {
        var amzDate = HandSignedClient.AmzDate(DateTimeOffset.UtcNow);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = "application/x-amz-json-1.1",
            ["x-amz-date"] = amzDate,
            ["x-amz-target"] = "TrentService.ListKeys",
        };
        List<string> signed = [.. HandSignedClient.StandardSignedHeaders];
        if (token is not null)
        {
            headers["x-amz-security-token"] = token;
            if (signToken)
            {
                signed.Add("x-amz-security-token");
            }
        }

        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = "/";
        context.Request.Host = new HostString(Host);
        foreach (var (name, value) in headers)
        {
            context.Request.Headers[name] = value;
        }

        context.Request.Headers.Authorization = HandSignedClient.Authorization(signer.AccessKeyId, signer.SecretAccessKey, Host, headers, signed, "{}"u8, amzDate, "us-east-1");
        return context.Request;
    }

    private static KmsException Refusal(HttpRequest request) => Assert.Throws<KmsException>(() => Verifier.Verify(request, "{}"u8));

    [Fact]
    public void The_issued_token_signed_with_its_access_key_is_accepted()
    {
        Assert.Same(Temporary, Verifier.Verify(Request(Temporary, Issued, signToken: true), "{}"u8));
        Assert.Same(LongTerm, Verifier.Verify(Request(LongTerm, null, signToken: false), "{}"u8));
    }

    [Theory]
    [InlineData("another-token")]
    [InlineData("issued-session-toke")]
    [InlineData(null)]
    public void Temporary_credentials_without_their_own_token_are_UnrecognizedClientException(string? token)
    {
        var error = Refusal(Request(Temporary, token, signToken: true));
        Assert.Equal((KmsErrorTypes.UnrecognizedClient, "The security token included in the request is invalid."), (error.ErrorType, error.Message));
    }

    [Fact]
    public void A_token_sent_with_a_long_term_access_key_is_UnrecognizedClientException()
    {
        Assert.Equal(KmsErrorTypes.UnrecognizedClient, Refusal(Request(LongTerm, Issued, signToken: true)).ErrorType);
    }

    [Fact]
    public void The_token_must_be_a_signed_header()
    {
        var error = Refusal(Request(Temporary, Issued, signToken: false));
        Assert.Equal((KmsErrorTypes.InvalidSignature, "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."), (error.ErrorType, error.Message));
    }

    [Fact]
    public void Temporary_credentials_past_their_expiration_are_ExpiredTokenException()
    {
        var error = Refusal(Request(Expired, Issued, signToken: true));
        Assert.Equal(("ExpiredTokenException", "The security token included in the request is expired"), (error.ErrorType, error.Message));
    }
}
