namespace NitroEnclave.LocalKms.Tests;

/// <summary>
/// A batch of malformed requests, signed and unsigned, against every operation: each must be answered with a 4xx KMS
/// error ({"__type", "message"}), never a 500 or a body the SDKs cannot read.
/// </summary>
public sealed class MalformedInputTests : IAsyncLifetime
{
    /// <summary>Bodies no operation accepts; each is sent to every operation.</summary>
    private static readonly string[] BadBodies =
    [
        "", " ", "null", "[]", "1", "\"x\"", "true", "{", "{}}", "{\"a\":", "{\"a\":1,}", "{'a':1}", "{\"a\":NaN}", "{\"a\" 1}",
        new string('[', 300) + new string(']', 300), "{\"a\":" + string.Concat(Enumerable.Repeat("{\"a\":", 300)) + "1" + new string('}', 301),
    ];

    /// <summary>The members of each operation's request, by wire type: each gets values of the wrong type.</summary>
    private static readonly Dictionary<string, (string Member, string Type)[]> Members = new()
    {
        ["CreateKey"] = [("Policy", "string"), ("Description", "string"), ("KeyUsage", "string"), ("KeySpec", "string"), ("Origin", "string"), ("BypassPolicyLockoutSafetyCheck", "bool"), ("Tags", "list"), ("MultiRegion", "bool")],
        ["DescribeKey"] = [("KeyId", "string"), ("GrantTokens", "list")],
        ["ListKeys"] = [("Limit", "int"), ("Marker", "string")],
        ["ListAliases"] = [("KeyId", "string"), ("Limit", "int"), ("Marker", "string")],
        ["CreateAlias"] = [("AliasName", "string"), ("TargetKeyId", "string")],
        ["DeleteAlias"] = [("AliasName", "string")],
        ["GetKeyPolicy"] = [("KeyId", "string"), ("PolicyName", "string")],
        ["PutKeyPolicy"] = [("KeyId", "string"), ("PolicyName", "string"), ("Policy", "string"), ("BypassPolicyLockoutSafetyCheck", "bool")],
        ["Encrypt"] = [("KeyId", "string"), ("Plaintext", "blob"), ("EncryptionContext", "map"), ("GrantTokens", "list"), ("EncryptionAlgorithm", "string"), ("DryRun", "bool")],
        ["Decrypt"] = [("CiphertextBlob", "blob"), ("EncryptionContext", "map"), ("KeyId", "string"), ("EncryptionAlgorithm", "string"), ("Recipient", "struct"), ("DryRun", "bool")],
        ["ReEncrypt"] = [("CiphertextBlob", "blob"), ("SourceEncryptionContext", "map"), ("SourceKeyId", "string"), ("DestinationKeyId", "string"), ("DestinationEncryptionContext", "map"), ("DryRun", "bool")],
        ["GenerateDataKey"] = [("KeyId", "string"), ("EncryptionContext", "map"), ("NumberOfBytes", "int"), ("KeySpec", "string"), ("Recipient", "struct"), ("DryRun", "bool")],
        ["GenerateDataKeyWithoutPlaintext"] = [("KeyId", "string"), ("EncryptionContext", "map"), ("NumberOfBytes", "int"), ("KeySpec", "string")],
        ["GenerateRandom"] = [("NumberOfBytes", "int"), ("CustomKeyStoreId", "string"), ("Recipient", "struct")],
        ["ScheduleKeyDeletion"] = [("KeyId", "string"), ("PendingWindowInDays", "int")],
        ["EnableKey"] = [("KeyId", "string")],
        ["DisableKey"] = [("KeyId", "string")],
    };

    private static readonly Dictionary<string, string[]> WrongValues = new()
    {
        ["string"] = ["1", "true", "{}", "[\"x\"]"],
        ["int"] = ["\"7\"", "1.5", "1e999", "2147483648", "true", "{}"],
        ["bool"] = ["\"yes\"", "1", "{}"],
        ["blob"] = ["\"*\"", "\"AQ=\"", "5", "[]"],
        ["map"] = ["[]", "\"x\"", "{\"a\":1}", "{\"a\":{}}"],
        ["list"] = ["\"x\"", "[1]", "{}"],
        ["struct"] = ["[]", "5", "\"x\"", "{\"AttestationDocument\":5}", "{\"KeyEncryptionAlgorithm\":1}"],
    };

    /// <summary>Operation-specific bodies around a real key ($KEY) and one of its ciphertexts ($BLOB).</summary>
    private static readonly (string Operation, string Body)[] BadRequests =
    [
        ("Encrypt", """{"KeyId":"$KEY","Plaintext":"AQ==","EncryptionContext":{"a":null}}"""),
        ("Encrypt", """{"KeyId":"$KEY","Plaintext":""}"""),
        ("Encrypt", """{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/","Plaintext":"AQ=="}"""),
        ("Encrypt", """{"KeyId":"arn:aws:kms:us-east-1:111122223333:","Plaintext":"AQ=="}"""),
        ("DescribeKey", """{"KeyId":""}"""),
        ("DescribeKey", """{"KeyId":"alias/"}"""),
        ("DescribeKey", """{"KeyId":"$KEYx"}"""),
        ("DescribeKey", "{\"KeyId\":\"" + new string('k', 3000) + "\"}"),
        ("ListKeys", """{"Limit":-5}"""),
        ("ListKeys", """{"Limit":0}"""),
        ("ListKeys", """{"Marker":"-1"}"""),
        ("ListKeys", """{"Marker":"99999999999999999999"}"""),
        ("CreateKey", """{"Policy":""}"""),
        ("CreateKey", """{"Policy":"[]"}"""),
        ("CreateKey", """{"Tags":[null]}"""),
        ("GenerateRandom", """{"NumberOfBytes":0}"""),
        ("GenerateRandom", """{}"""),
        ("Encrypt", """{"KeyId":"$KEY","Plaintext":"AQ==","EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}"""),
        ("Decrypt", """{"CiphertextBlob":"$BLOB","EncryptionContext":{"a":null}}"""),
        ("Decrypt", """{"CiphertextBlob":"AQ=="}"""),
        ("Decrypt", """{"CiphertextBlob":"$BLOB","KeyId":"alias/"}"""),
        ("Decrypt", """{"CiphertextBlob":"$BLOB","Recipient":{"AttestationDocument":"oQ==","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}"""),
        ("Decrypt", """{"CiphertextBlob":"$BLOB","Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}"""),
        ("Decrypt", """{"CiphertextBlob":"$BLOB","Recipient":{"AttestationDocument":"AAAA","KeyEncryptionAlgorithm":"RSAES_PKCS1_V1_5"}}"""),
        ("GenerateDataKey", """{"KeyId":"$KEY","KeySpec":"AES_256","EncryptionContext":{"a":null}}"""),
        ("GenerateDataKey", """{"KeyId":"$KEY","NumberOfBytes":100000}"""),
        .. new[] { "2BKEQKA=", "oQ==", "AAAA", "0oRAoEBA", "hEChAfZAQA==", "/w==", "2BKE9vb29g==" }.Select(document =>
            ("GenerateRandom", $$$"""{"NumberOfBytes":8,"Recipient":{"AttestationDocument":"{{{document}}}","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}""")),
        ("ReEncrypt", """{"CiphertextBlob":"$BLOB","DestinationKeyId":"$KEY","DestinationEncryptionContext":{"a":null}}"""),
        ("ReEncrypt", """{"CiphertextBlob":"$BLOB","DestinationKeyId":"$KEY","SourceEncryptionContext":{"a":null}}"""),
        ("CreateAlias", """{"AliasName":"alias/a","TargetKeyId":"alias/b"}"""),
        ("CreateAlias", """{"AliasName":"alias/","TargetKeyId":"$KEY"}"""),
        ("ListAliases", """{"KeyId":"alias/x"}"""),
        ("GetKeyPolicy", """{"KeyId":"$KEY","PolicyName":"other"}"""),
        ("ScheduleKeyDeletion", """{"KeyId":"$KEY","PendingWindowInDays":"7"}"""),
        ("PutKeyPolicy", """{"KeyId":"$KEY"}"""),
        .. new[]
        {
            """{"Statement":null}""",
            """{"Statement":[[]]}""",
            """{"Version":5,"Statement":[]}""",
            """{"Statement":[{"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":{"AWS":[1]},"Action":"kms:*","Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":[null],"Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":5}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","NotResource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":[]}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":[]}}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":[]}}}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":{"a":1}}}}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Null":{"kms:CallerAccount":"maybe"}}}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:":{"kms:CallerAccount":"1"}}}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:Null":{"kms:CallerAccount":"true"}}}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:ForAllValues:StringEquals":{"kms:CallerAccount":"1"}}}]}""",
            """{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":[]},"Action":"kms:*","Resource":"*"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"kms:*","Resource":"*"}]}""",
            new string('[', 200) + new string(']', 200),
        }.Select(policy => ("PutKeyPolicy", $$"""{"KeyId":"$KEY","Policy":{{System.Text.Json.JsonSerializer.Serialize(policy)}}}""")),
    ];

    // Trusting a root makes the endpoint parse the attestation documents below instead of refusing every Recipient.
    private readonly NitroEnclave.Attestation.SimulatedNsmChain _chain = NitroEnclave.Attestation.SimulatedNsmChain.Create();
    private LocalKmsHost _host = null!;
    private string _keyId = null!;
    private string _blob = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync(trustedRoots: [_chain.Root]);
        using var kms = _host.AdminClient();
        _keyId = (await kms.CreateKeyAsync(new Amazon.KeyManagementService.Model.CreateKeyRequest())).KeyMetadata.KeyId;
        var encrypted = await kms.EncryptAsync(new Amazon.KeyManagementService.Model.EncryptRequest { KeyId = _keyId, Plaintext = new MemoryStream([1, 2, 3]) });
        _blob = Convert.ToBase64String(encrypted.CiphertextBlob.ToArray());
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _chain.Dispose();
    }

    private HandSignedClient Client() => new(_host.Server.Endpoint, _host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey);

    private static string? Problem(string what, KmsAnswer answer) =>
        answer.Status is >= 400 and < 500 && !string.IsNullOrEmpty(answer.Type) && answer.Message is not null
            ? null
            : $"{what}: HTTP {answer.Status} {answer.Body[..Math.Min(answer.Body.Length, 200)]}";

    [Fact]
    public async Task Every_malformed_body_is_a_4xx_KMS_error()
    {
        using var client = Client();
        var problems = new List<string?>();
        foreach (var operation in Members.Keys)
        {
            foreach (var body in BadBodies)
            {
                problems.Add(Problem($"{operation} {body[..Math.Min(body.Length, 60)]}", await client.SendAsync("TrentService." + operation, body)));
            }

            foreach (var (member, type) in Members[operation])
            {
                foreach (var value in WrongValues[type])
                {
                    var body = $$"""{"{{member}}":{{value}}}""";
                    problems.Add(Problem($"{operation} {body}", await client.SendAsync("TrentService." + operation, body)));
                }
            }
        }

        foreach (var (operation, body) in BadRequests)
        {
            var filled = body.Replace("$KEY", _keyId, StringComparison.Ordinal).Replace("$BLOB", _blob, StringComparison.Ordinal);
            problems.Add(Problem($"{operation} {body}", await client.SendAsync("TrentService." + operation, filled)));
        }

        // Bytes that are not UTF-8 at all.
        using (var raw = Client())
        {
            var answer = await SendSignedBytesAsync(raw, "TrentService.ListKeys", [0xFF, 0xFE, 0x7B, 0x7D]);
            problems.Add(Problem("ListKeys with invalid UTF-8", answer));
        }

        AssertNone(problems);
    }

    [Fact]
    public async Task Every_malformed_signature_or_header_is_a_4xx_KMS_error()
    {
        using var client = Client();
        var amzDate = HandSignedClient.AmzDate(DateTimeOffset.UtcNow);
        var scope = $"{_host.Server.AdminAccessKeyId}/{amzDate[..8]}/us-east-1/kms/aws4_request";
        string[] authorizations =
        [
            "Bearer token", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 Credential=a", "AWS4-HMAC-SHA256 ,,,=,=",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=////, SignedHeaders=, Signature=",
            $"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=, Signature=",
            $"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=;;;, Signature=zz",
            $"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=HOST;X-AMZ-DATE;X-AMZ-TARGET, Signature=00",
            $"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date;x-amz-target, Signature={new string('0', 64)}",
            $"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date;x-amz-target;x-missing, Signature={new string('0', 64)}",
            $"AWS4-HMAC-SHA256 Credential={scope.Replace("/kms/", "/kms/x/", StringComparison.Ordinal)}, SignedHeaders=host, Signature=00",
            $"AWS4-HMAC-SHA256 Credential={scope.Replace(amzDate[..8], "20000101", StringComparison.Ordinal)}, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
        ];
        string?[] dates = [amzDate, null, "", "garbage", "20240101", "99999999T999999Z", "2024-01-01T00:00:00Z"];
        var problems = new List<string?>();
        foreach (var authorization in authorizations)
        {
            foreach (var date in dates)
            {
                var headers = new Dictionary<string, string>
                {
                    ["content-type"] = "application/x-amz-json-1.1",
                    ["x-amz-target"] = "TrentService.ListKeys",
                    ["authorization"] = authorization,
                };
                if (date is not null)
                {
                    headers["x-amz-date"] = date;
                }

                problems.Add(Problem($"Authorization '{authorization}', X-Amz-Date '{date}'", await client.SendRawAsync("{}"u8.ToArray(), headers)));
            }
        }

        foreach (var target in new[] { "TrentService.", "TrentService", "", "TrentService.ListKeys,TrentService.Decrypt", "TrentService.ListKeys ", ".ListKeys" })
        {
            problems.Add(Problem($"X-Amz-Target '{target}'", await client.SendAsync(target)));
        }

        foreach (var path in new[] { "/%zz", "/a/b/../c", "/?x=%", "/?a&a=1&=" })
        {
            var headers = new Dictionary<string, string> { ["content-type"] = "application/x-amz-json-1.1", ["x-amz-target"] = "TrentService.ListKeys", ["x-amz-date"] = amzDate };
            headers["authorization"] = $"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date;x-amz-target, Signature={new string('0', 64)}";
            problems.Add(Problem($"path {path}", await client.SendRawAsync("{}"u8.ToArray(), headers, path)));
        }

        AssertNone(problems);
    }

    private static void AssertNone(List<string?> problems)
    {
        var found = problems.Where(p => p is not null).ToList();
        Assert.True(found.Count == 0, string.Join('\n', found));
    }

    private async Task<KmsAnswer> SendSignedBytesAsync(HandSignedClient client, string target, byte[] body)
    {
        var amzDate = HandSignedClient.AmzDate(DateTimeOffset.UtcNow);
        var headers = new Dictionary<string, string>
        {
            ["content-type"] = "application/x-amz-json-1.1",
            ["x-amz-date"] = amzDate,
            ["x-amz-target"] = target,
        };
        headers["authorization"] = HandSignedClient.Authorization(_host.Server.AdminAccessKeyId, _host.Server.AdminSecretAccessKey, _host.Server.Endpoint.Authority,
            headers, HandSignedClient.StandardSignedHeaders, body, amzDate, "us-east-1");
        return await client.SendRawAsync(body, headers);
    }
}
