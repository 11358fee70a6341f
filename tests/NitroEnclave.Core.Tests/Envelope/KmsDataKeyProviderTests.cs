using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Aws;
using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

/// <summary>The KMS provider through the real AWS SDK client, against a minimal KMS JSON endpoint on 127.0.0.1.</summary>
public sealed class KmsDataKeyProviderTests : IDisposable
{
    private const string Arn = "arn:aws:kms:eu-west-1:111122223333:key/0f0f0f0f-1111-2222-3333-444444444444";
    private readonly FakeKms _kms = new();

    public void Dispose() => _kms.Dispose();

    [Fact]
    public async Task Messages_round_trip_through_kms_with_the_context_and_key_arn()
    {
        using var provider = Provider();
        var plaintext = Bytes(5000);

        var (message, result) = await EncryptAsync(provider, plaintext, frameLength: 1024);
        var decrypted = await DecryptAsync(message, provider);

        Assert.Equal(plaintext, decrypted);
        Assert.Equal(Arn, result.KeyArn);
        var generate = _kms.Requests.First(r => r.Target == "TrentService.GenerateDataKey");
        Assert.Equal("alias/test", generate.Body.GetProperty("KeyId").GetString());
        Assert.Equal("AES_256", generate.Body.GetProperty("KeySpec").GetString());
        Assert.Equal("test", generate.Body.GetProperty("EncryptionContext").GetProperty("purpose").GetString());
        Assert.True(generate.Body.GetProperty("EncryptionContext").TryGetProperty("aws-crypto-public-key", out _));
        var decrypt = _kms.Requests.First(r => r.Target == "TrentService.Decrypt");
        Assert.Equal(Arn, decrypt.Body.GetProperty("KeyId").GetString());
        Assert.Equal(result.EncryptionContext["aws-crypto-public-key"], decrypt.Body.GetProperty("EncryptionContext").GetProperty("aws-crypto-public-key").GetString());
    }

    [Fact]
    public async Task A_denied_decrypt_is_KmsAccessDenied_and_releases_nothing()
    {
        using var provider = Provider();
        var (message, _) = await EncryptAsync(provider, Bytes(100));
        _kms.DenyDecrypt = true;

        var (error, released) = await DecryptFailsAsync(message, provider);

        Assert.Equal(EnvelopeErrors.KmsAccessDenied, error.ErrorId);
        Assert.Equal(ErrorKind.PermissionDenied, error.Kind);
        Assert.Empty(released);
        Assert.DoesNotContain(Convert.ToBase64String(_kms.LastPlaintext!), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Legacy_files_decrypt_through_kms_without_a_key_id()
    {
        using var provider = Provider();
        var file = await FernetAndLegacyTests.MakeLegacyFileAsync(provider, Bytes(300));

        using var output = new MemoryStream();
        await LegacyEncryptedFile.DecryptAsync(new MemoryStream(file), output, provider);

        Assert.Equal(Bytes(300), output.ToArray());
        Assert.False(_kms.Requests.Last().Body.TryGetProperty("KeyId", out _));
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_KmsUnavailable()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        using var client = AwsClientFactory.CreateKmsClient(new AwsConnectionSettings { AccessKey = "AKIDEXAMPLE", SecretKey = "secret", Region = "eu-west-1", EndpointUrl = $"http://127.0.0.1:{port}" });
        ((Amazon.KeyManagementService.AmazonKeyManagementServiceConfig)client.Config).MaxErrorRetry = 0;
        using var provider = new KmsDataKeyProvider(client);

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => provider.GenerateDataKeyAsync("alias/x", 32, new Dictionary<string, string>(), CancellationToken.None));

        Assert.Equal(EnvelopeErrors.KmsUnavailable, error.ErrorId);
    }

    [Fact]
    public void Sdk_errors_map_to_stable_ids()
    {
        Assert.Equal(EnvelopeErrors.KmsInvalidCiphertext, KmsKeyring.MapFailure(new InvalidCiphertextException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsInvalidCiphertext, KmsKeyring.MapFailure(new IncorrectKeyException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsKeyNotFound, KmsKeyring.MapFailure(new NotFoundException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsKeyDisabled, KmsKeyring.MapFailure(new DisabledException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsKeyDisabled, KmsKeyring.MapFailure(new KMSInvalidStateException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsUnavailable, KmsKeyring.MapFailure(new KeyUnavailableException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsUnavailable, KmsKeyring.MapFailure(new HttpRequestException("x"), "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsAccessDenied, KmsKeyring.MapFailure(new AmazonServiceException("x") { ErrorCode = "AccessDeniedException" }, "Decrypt", "k").ErrorId);
        Assert.Equal(EnvelopeErrors.KmsRequestFailed, KmsKeyring.MapFailure(new AmazonServiceException("x") { ErrorCode = "ValidationException", StatusCode = HttpStatusCode.BadRequest }, "Decrypt", "k").ErrorId);
    }

    [Fact]
    public void Authentication_failures_have_their_own_ids_and_name_the_credentials_never_the_secret()
    {
        static AmazonServiceException Refused(string code) => new("refused") { ErrorCode = code, StatusCode = HttpStatusCode.BadRequest };
        var profile = new AwsCredentialsUsed("profile 'ops'", "AKIAIOSFODNN7EXAMPLE", HasSessionToken: false);
        var session = profile with { HasSessionToken = true };

        var signature = KmsKeyring.MapFailure(Refused("InvalidSignatureException"), "Decrypt", "k", profile);
        Assert.Equal((EnvelopeErrors.AwsSignatureInvalid, ErrorKind.SecurityError), (signature.ErrorId, signature.Kind));
        Assert.Contains("profile 'ops' (access key AKIA...MPLE)", signature.Message, StringComparison.Ordinal);
        Assert.Equal(EnvelopeErrors.AwsAccessKeyUnknown, KmsKeyring.MapFailure(Refused("UnrecognizedClientException"), "Decrypt", "k", profile).ErrorId);
        // AWS answers UnrecognizedClientException for a token that does not go with the key too: a token was sent.
        Assert.Equal(EnvelopeErrors.AwsTokenInvalid, KmsKeyring.MapFailure(Refused("UnrecognizedClientException"), "Decrypt", "k", session).ErrorId);
        Assert.Equal(EnvelopeErrors.AwsTokenInvalid, KmsKeyring.MapFailure(Refused("ExpiredTokenException"), "Decrypt", "k", session).ErrorId);
        Assert.Equal(EnvelopeErrors.AwsAccessKeyUnknown, KmsKeyring.MapFailure(Refused("UnrecognizedClientException"), "Decrypt", "k").ErrorId);
        Assert.DoesNotContain("IOSFODNN7", signature.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Aws_parameters_resolve_in_the_aws_tools_order()
    {
        var keys = new AwsKeys("AKIA1", "s1");
        var credential = new AwsKeys("AKIA2", "s2", "t2");
        var stored = new AwsKeys("AKIA3", "s3");

        var all = AwsSettingsResolver.Resolve(keys, credential, "p", "/tmp/creds", stored, "sp", "eu-west-1", "us-east-2", "http://127.0.0.1:4566");
        Assert.Equal(("AKIA1", "eu-west-1", "http://127.0.0.1:4566", null), (all.AccessKey, all.Region, all.EndpointUrl, all.ProfileName));

        // A profile named on the command line outranks -Credential, as in AWS.Tools (and so beats a session default -Credential).
        Assert.Equal("p", AwsSettingsResolver.Resolve(null, credential, "p", null, stored, null, null, "us-east-2", null).ProfileName);
        Assert.Equal("AKIA2", AwsSettingsResolver.Resolve(null, credential, null, null, stored, "sp", null, "us-east-2", null).AccessKey);
        // -ProfileLocation alone: the stored profile name is read from it, else its default profile; -Credential still comes first.
        var fileDefault = AwsSettingsResolver.Resolve(null, null, null, "/tmp/creds", null, null, null, null, null);
        Assert.Equal(("default", "/tmp/creds", "profile 'default' of -ProfileLocation"), (fileDefault.ProfileName, fileDefault.ProfileLocation, fileDefault.CredentialSource));
        Assert.Equal("sp", AwsSettingsResolver.Resolve(null, null, null, "/tmp/creds", null, "sp", null, null, null).ProfileName);
        Assert.Equal("AKIA2", AwsSettingsResolver.Resolve(null, credential, null, "/tmp/creds", null, null, null, null, null).AccessKey);
        var profile = AwsSettingsResolver.Resolve(null, null, "p", "/tmp/creds", stored, "sp", null, "us-east-2", null);
        Assert.Equal(("p", "/tmp/creds", (string?)null, "us-east-2"), (profile.ProfileName, profile.ProfileLocation, profile.AccessKey, profile.Region));
        Assert.Equal("AKIA3", AwsSettingsResolver.Resolve(null, null, null, null, stored, "sp", null, null, null).AccessKey);
        Assert.Equal("sp", AwsSettingsResolver.Resolve(null, null, " ", null, null, "sp", null, null, null).ProfileName);
        var chain = AwsSettingsResolver.Resolve(null, null, null, null, null, null, null, null, null);
        Assert.Equal(((string?)null, (string?)null, (string?)null), (chain.AccessKey, chain.ProfileName, chain.Region));
        Assert.DoesNotContain("s1", all.ToString(), StringComparison.Ordinal);

        Assert.Equal(AwsSettingsResolver.MissingSecretKey, Assert.Throws<NitroEnclaveException>(() => AwsSettingsResolver.Resolve(new AwsKeys("AKIA", ""), null, null, null, null, null, null, null, null)).ErrorId);
        Assert.Equal(AwsSettingsResolver.InvalidEndpoint, Assert.Throws<NitroEnclaveException>(() => AwsSettingsResolver.Resolve(null, null, null, null, null, null, null, null, "ftp://x")).ErrorId);
        Assert.Equal(AwsSettingsResolver.InvalidRegion, Assert.Throws<NitroEnclaveException>(() => AwsSettingsResolver.Resolve(null, null, null, null, null, null, null, "EU West 1", null)).ErrorId);
        Assert.Equal(AwsSettingsResolver.InvalidRegion, Assert.Throws<NitroEnclaveException>(() => AwsSettingsResolver.Resolve(null, null, null, null, null, null, "-x", null, null)).ErrorId);
    }

    [Fact]
    public void A_missing_profile_is_reported()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "[other]\naws_access_key_id = AKIA\naws_secret_access_key = s\n");
            var error = Assert.Throws<NitroEnclaveException>(() => AwsClientFactory.CreateKmsClient(new AwsConnectionSettings { ProfileName = "missing", ProfileLocation = file, Region = "eu-west-1" }));
            Assert.Equal(AwsSettingsResolver.ProfileNotFound, error.ErrorId);

            using var client = AwsClientFactory.CreateKmsClient(new AwsConnectionSettings { ProfileName = "other", ProfileLocation = file, Region = "eu-west-1" });
            Assert.Equal("eu-west-1", client.Config.RegionEndpoint.SystemName);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private KmsDataKeyProvider Provider()
    {
        var client = AwsClientFactory.CreateKmsClient(new AwsConnectionSettings { AccessKey = "AKIDEXAMPLE", SecretKey = "secret", Region = "eu-west-1", EndpointUrl = _kms.Url });
        return new KmsDataKeyProvider(client, ownsClient: true);
    }

    /// <summary>Just enough of the KMS JSON protocol: GenerateDataKey and Decrypt, with context binding and a deny switch.</summary>
    private sealed class FakeKms : IDisposable
    {
        private readonly HttpListener _listener;
        private readonly Dictionary<string, (byte[] Key, string Context)> _issued = [];
        private readonly Task _loop;

        public FakeKms()
        {
            for (var attempt = 0; ; attempt++)
            {
                var port = Random.Shared.Next(20000, 60000);
                Url = $"http://127.0.0.1:{port}/";

                // A listener whose Start failed is disposed: each attempt needs a new one.
                var listener = new HttpListener();
                listener.Prefixes.Add(Url);
                try
                {
                    listener.Start();
                    _listener = listener;
                    break;
                }
                catch (HttpListenerException) when (attempt < 20)
                {
                    listener.Close();
                }
            }

            _loop = Task.Run(ServeAsync);
        }

        public string Url { get; }

        public bool DenyDecrypt { get; set; }

        public byte[]? LastPlaintext { get; private set; }

        public List<(string Target, JsonElement Body)> Requests { get; } = [];

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception) when (!_listener.IsListening)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
                var target = context.Request.Headers["X-Amz-Target"] ?? string.Empty;
                lock (Requests)
                {
                    Requests.Add((target, body));
                }

                var (status, reply) = Handle(target, body);
                var bytes = Encoding.UTF8.GetBytes(reply);
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/x-amz-json-1.1";
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }

        private (int, string) Handle(string target, JsonElement body)
        {
            var contextText = body.TryGetProperty("EncryptionContext", out var c) ? c.GetRawText() : "{}";
            if (target == "TrentService.GenerateDataKey")
            {
                var key = RandomNumberGenerator.GetBytes(32);
                LastPlaintext = key;
                var blob = RandomNumberGenerator.GetBytes(64);
                _issued[Convert.ToBase64String(blob)] = (key, contextText);
                return (200, JsonSerializer.Serialize(new Dictionary<string, string> { ["KeyId"] = Arn, ["Plaintext"] = Convert.ToBase64String(key), ["CiphertextBlob"] = Convert.ToBase64String(blob) }));
            }

            if (DenyDecrypt)
            {
                return (400, """{"__type":"AccessDeniedException","message":"User is not authorized to perform kms:Decrypt"}""");
            }

            var blobText = body.GetProperty("CiphertextBlob").GetString()!;
            if (!_issued.TryGetValue(blobText, out var issued) || !JsonEquals(issued.Context, contextText))
            {
                return (400, """{"__type":"InvalidCiphertextException","message":"invalid"}""");
            }

            return (200, JsonSerializer.Serialize(new Dictionary<string, string> { ["KeyId"] = Arn, ["Plaintext"] = Convert.ToBase64String(issued.Key) }));
        }

        private static bool JsonEquals(string a, string b)
        {
            var left = JsonSerializer.Deserialize<SortedDictionary<string, string>>(a)!;
            var right = JsonSerializer.Deserialize<SortedDictionary<string, string>>(b)!;
            return left.SequenceEqual(right);
        }
    }
}
