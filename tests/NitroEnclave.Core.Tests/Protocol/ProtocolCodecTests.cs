using System.Formats.Cbor;
using NitroEnclave.Protocol;

namespace NitroEnclave.Tests.Protocol;

public sealed class ProtocolCodecTests
{
    private static DetectRequest SampleDetect() => new()
    {
        EncryptedFile = [1, 2, 3, 4, 5],
        Credentials = new AwsCallerCredentials { AccessKeyId = "AKIDEXAMPLE", SecretAccessKey = "wJalrXUtnFEMI/K7MDENG", SessionToken = "token", Region = "eu-west-1" },
        Options = new DetectionRequestOptions { MinScore = 0.4, MaxResults = 7, Classes = ["airplane", "person"] },
    };

    [Fact]
    public void Requests_round_trip()
    {
        var detect = (DetectRequest)ProtocolCodec.DecodeRequest(ProtocolCodec.EncodeRequest(SampleDetect()));
        var attest = (AttestRequest)ProtocolCodec.DecodeRequest(ProtocolCodec.EncodeRequest(new AttestRequest { Nonce = [9, 9], UserData = [7] }));
        var describe = ProtocolCodec.DecodeRequest(ProtocolCodec.EncodeRequest(new DescribeRequest()));

        Assert.Equal([1, 2, 3, 4, 5], detect.EncryptedFile);
        Assert.Equal("AKIDEXAMPLE", detect.Credentials.AccessKeyId);
        Assert.Equal("wJalrXUtnFEMI/K7MDENG", detect.Credentials.SecretAccessKey);
        Assert.Equal("token", detect.Credentials.SessionToken);
        Assert.Equal("eu-west-1", detect.Credentials.Region);
        Assert.Equal(0.4, detect.Options.MinScore);
        Assert.Equal(7, detect.Options.MaxResults);
        Assert.Equal(["airplane", "person"], detect.Options.Classes);
        Assert.Equal([9, 9], attest.Nonce);
        Assert.Equal([7], attest.UserData);
        Assert.IsType<DescribeRequest>(describe);
    }

    [Fact]
    public void Secrets_stay_out_of_ToString()
    {
        var request = SampleDetect();
        Assert.DoesNotContain("wJalr", request.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("wJalr", request.Credentials.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("token", request.Credentials.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Responses_round_trip()
    {
        var detect = new DetectResponse
        {
            Objects = [new DetectedObject("airplane", 5, 0.75, new BoundingBox(0.1, 0.2, 0.3, 0.4), new BoundingBox(10, 20, 30, 40))],
            ImageWidth = 100,
            ImageHeight = 100,
            Model = "ssdlite",
            Timings = new Dictionary<string, double> { ["inference"] = 12.5, ["total"] = 20 },
        };
        var description = new ServerDescription
        {
            Server = "EnclaveHost",
            Version = "0.1.0",
            SecurityModule = "simulated",
            DebugMode = true,
            KmsConfigured = false,
            Model = "ssdlite",
            Labels = ["person"],
            MaxFrameBytes = 1000,
            MaxImagePixels = 5000,
            MaxConcurrentRequests = 4,
            RequestTimeoutSeconds = 30,
        };

        var decodedDetect = ProtocolCodec.DecodeDetectResponse(ProtocolCodec.EncodeDetectResponse(detect));
        var decodedDescription = ProtocolCodec.DecodeDescribeResponse(ProtocolCodec.EncodeDescribeResponse(description));
        var document = ProtocolCodec.DecodeAttestResponse(ProtocolCodec.EncodeAttestResponse([0xD2, 0x84]));

        var o = Assert.Single(decodedDetect.Objects);
        Assert.Equal(("airplane", 5, 0.75), (o.Label, o.ClassId, o.Score));
        Assert.Equal((0.1, 0.2, 0.3, 0.4), (o.Box.XMin, o.Box.YMin, o.Box.XMax, o.Box.YMax));
        Assert.Equal(40, o.PixelBox.YMax);
        Assert.Equal(12.5, decodedDetect.Timings["inference"]);
        Assert.Equal("ssdlite", decodedDetect.Model);
        Assert.Equal("simulated", decodedDescription.SecurityModule);
        Assert.True(decodedDescription.DebugMode);
        Assert.Equal(["person"], decodedDescription.Labels);
        Assert.Equal(5000, decodedDescription.MaxImagePixels);
        Assert.Equal([0xD2, 0x84], document);
    }

    [Fact]
    public void An_error_response_becomes_an_exception_with_the_servers_code()
    {
        var error = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeDetectResponse(ProtocolCodec.EncodeError("KmsAccessDenied", "denied by key policy")));

        Assert.Equal("KmsAccessDenied", error.Code);
        Assert.Equal("EnclaveKmsAccessDenied", error.ErrorId);
        Assert.Equal(ErrorKind.PermissionDenied, error.Kind);
        Assert.Contains("denied by key policy", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, byte[]> MalformedRequests()
    {
        return new TheoryData<string, byte[]>
        {
            { "not cbor", [0xFF, 0xFF] },
            { "not a map", [0x83, 1, 2, 3] },
            { "no version", Map(w => { w.WriteTextString("op"); w.WriteTextString("Describe"); }) },
            { "unknown op", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Format\u0007Disk"); }) },
            { "op not text", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteInt32(3); }) },
            { "detect without file", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Detect"); }) },
            { "nonce too long", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Attest"); w.WriteTextString("nonce"); w.WriteByteString(new byte[513]); }) },
            { "duplicate key", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("v"); w.WriteInt32(1); }) },
            { "integer key", Map(w => { w.WriteInt32(1); w.WriteInt32(1); }) },
            { "trailing bytes", [.. ProtocolCodec.EncodeRequest(new DescribeRequest()), 0x00] },
            { "attest with a public key", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Attest"); w.WriteTextString("publicKey"); w.WriteByteString(new byte[294]); }) },
            { "attest with a null public key", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Attest"); w.WriteTextString("publicKey"); w.WriteNull(); }) },
            { "attest with public_key spelled as the document does", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Attest"); w.WriteTextString("public_key"); w.WriteByteString(new byte[294]); }) },
            { "describe with an unknown field", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Describe"); w.WriteTextString("x"); w.WriteInt32(1); }) },
            { "deep nesting", Map(w => { w.WriteTextString("x"); for (var i = 0; i < 20; i++) { w.WriteStartArray(1); } w.WriteInt32(0); for (var i = 0; i < 20; i++) { w.WriteEndArray(); } }) },
            { "a key repeated in a longer encoding", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Describe"); w.WriteEncodedValue([0x78, 0x01, (byte)'v']); w.WriteInt32(1); }) },
            { "a key repeated in the aws map", Detect(Text("eu-west-1"), Text("person"), aws => { aws.WriteTextString("region"); aws.WriteTextString("us-east-1"); }) },
            { "invalid UTF-8 in the region", Detect(InvalidUtf8, Text("person")) },
            { "invalid UTF-8 in a class label", Detect(Text("eu-west-1"), InvalidUtf8) },
            { "invalid UTF-8 in a key", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Describe"); w.WriteEncodedValue(InvalidUtf8); w.WriteInt32(1); }) },
            { "an indefinite-length text string", Detect(IndefiniteText("eu-", "west-1"), Text("person")) },
            { "an indefinite-length byte string", Map(w => { w.WriteTextString("v"); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Attest"); w.WriteTextString("nonce"); w.WriteEncodedValue([0x5F, 0x41, 0x01, 0x41, 0x02, 0xFF]); }) },
            { "an indefinite-length key", Map(w => { w.WriteEncodedValue(IndefiniteText("v")); w.WriteInt32(1); w.WriteTextString("op"); w.WriteTextString("Describe"); }) },
        };
    }

    /// <summary>"\xC3(": a lead byte followed by a byte that cannot continue it. A lax reader turns it into U+FFFD.</summary>
    private static readonly byte[] InvalidUtf8 = [0x62, 0xC3, 0x28];

    private static byte[] Map(Action<CborWriter> body)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        body(w);
        w.WriteEndMap();
        return w.Encode();
    }

    private static byte[] Text(string text)
    {
        var w = new CborWriter();
        w.WriteTextString(text);
        return w.Encode();
    }

    private static byte[] IndefiniteText(params string[] chunks)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartIndefiniteLengthTextString();
        foreach (var chunk in chunks)
        {
            w.WriteTextString(chunk);
        }

        w.WriteEndIndefiniteLengthTextString();
        return w.Encode();
    }

    /// <summary>A Detect request with its region and its one class label as given (encoded CBOR), the rest well formed.</summary>
    private static byte[] Detect(byte[] region, byte[] label, Action<CborWriter>? extraAwsField = null) => Map(w =>
    {
        w.WriteTextString("v");
        w.WriteInt32(1);
        w.WriteTextString("op");
        w.WriteTextString("Detect");
        w.WriteTextString("file");
        w.WriteByteString([1, 2, 3]);
        w.WriteTextString("aws");
        w.WriteStartMap(null);
        w.WriteTextString("accessKeyId");
        w.WriteTextString("AKIDEXAMPLE");
        w.WriteTextString("secretAccessKey");
        w.WriteTextString("secret");
        w.WriteTextString("region");
        w.WriteEncodedValue(region);
        extraAwsField?.Invoke(w);
        w.WriteEndMap();
        w.WriteTextString("options");
        w.WriteStartMap(1);
        w.WriteTextString("classes");
        w.WriteStartArray(1);
        w.WriteEncodedValue(label);
        w.WriteEndArray();
        w.WriteEndMap();
    });

    [Theory]
    [MemberData(nameof(MalformedRequests))]
    public void Malformed_requests_are_BadRequest(string why, byte[] payload)
    {
        var error = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(payload));
        Assert.True(error.Code == ProtocolErrorCodes.BadRequest, why);
        Assert.DoesNotContain("\u0007", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_requests_the_malformed_cases_are_made_from_are_valid()
    {
        var detect = (DetectRequest)ProtocolCodec.DecodeRequest(Detect(Text("eu-west-1"), Text("person")));

        Assert.Equal("eu-west-1", detect.Credentials.Region);
        Assert.Equal(["person"], detect.Options.Classes);
    }

    [Fact]
    public void Maps_and_arrays_may_have_indefinite_length()
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        w.WriteTextString("v");
        w.WriteInt32(1);
        w.WriteTextString("op");
        w.WriteTextString("Detect");
        w.WriteTextString("file");
        w.WriteByteString([1]);
        w.WriteTextString("aws");
        w.WriteStartMap(null);
        w.WriteTextString("accessKeyId");
        w.WriteTextString("AKIDEXAMPLE");
        w.WriteTextString("secretAccessKey");
        w.WriteTextString("secret");
        w.WriteTextString("region");
        w.WriteTextString("eu-west-1");
        w.WriteEndMap();
        w.WriteTextString("options");
        w.WriteStartMap(null);
        w.WriteTextString("classes");
        w.WriteStartArray(null);
        w.WriteTextString("person");
        w.WriteTextString("airplane");
        w.WriteEndArray();
        w.WriteEndMap();
        w.WriteEndMap();

        var detect = (DetectRequest)ProtocolCodec.DecodeRequest(w.Encode());

        Assert.Equal(["person", "airplane"], detect.Options.Classes);
    }

    [Theory]
    [InlineData(new byte[] { 0x7F, 0x61, (byte)'v', 0xFF }, "indefinite-length")]
    [InlineData(new byte[] { 0x62, 0xC3, 0x28 }, "UTF-8")]
    public void The_error_says_what_is_wrong_with_the_encoding(byte[] key, string expected)
    {
        var error = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(Map(w => { w.WriteEncodedValue(key); w.WriteInt32(1); })));

        Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_response_with_invalid_UTF8_is_BadRequest_on_the_client_too()
    {
        var encoded = ProtocolCodec.EncodeAttestResponse([1]);
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        w.WriteTextString("v");
        w.WriteInt32(1);
        w.WriteTextString("ok");
        w.WriteBoolean(false);
        w.WriteTextString("error");
        w.WriteStartMap(2);
        w.WriteTextString("code");
        w.WriteEncodedValue(InvalidUtf8);
        w.WriteTextString("message");
        w.WriteTextString("no");
        w.WriteEndMap();
        w.WriteEndMap();

        Assert.Equal([1], ProtocolCodec.DecodeAttestResponse(encoded));
        Assert.Equal(ProtocolErrorCodes.BadRequest, Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeAttestResponse(w.Encode())).Code);
    }

    [Fact]
    public void An_attest_request_naming_a_public_key_is_refused_with_the_reason()
    {
        var w = new CborWriter();
        w.WriteStartMap(3);
        w.WriteTextString("v");
        w.WriteInt32(1);
        w.WriteTextString("op");
        w.WriteTextString("Attest");
        w.WriteTextString("publicKey");
        w.WriteByteString(new byte[294]);
        w.WriteEndMap();

        var error = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(w.Encode()));

        Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
        Assert.Contains("takes no publicKey", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("aws", "role")]
    [InlineData("options", "publicKey")]
    [InlineData(null, "recipient")]
    public void Detect_refuses_fields_it_does_not_know_at_every_level(string? map, string field)
    {
        var request = CborTree.ReadMap(ProtocolCodec.EncodeRequest(SampleDetect()));
        var target = map is null ? request : (Dictionary<string, object?>)request[map]!;
        target[field] = new byte[] { 1 };

        var error = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(EncodeTree(request)));

        Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
        Assert.Contains($"unknown field '{field}'", error.Message, StringComparison.Ordinal);
    }

    private static DetectRequest SampleConfidentialDetect() => new()
    {
        EncryptedFile = [1, 2, 3, 4, 5],
        Credentials = new AwsCallerCredentials { AccessKeyId = "AKIDEXAMPLE", SecretAccessKey = "wJalrXUtnFEMI/K7MDENG", Region = "eu-west-1" },
        Result = new ConfidentialResultRequest { KeyId = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", InputName = "air-show.jpg.enc", Annotate = true },
    };

    [Theory]
    [InlineData("1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("mrk-1234abcd12ab34cd56ef1234567890ab")]
    [InlineData("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")]
    [InlineData("alias/detection-results")]
    [InlineData("arn:aws:kms:eu-west-1:111122223333:alias/detection-results")]
    public void A_confidential_request_round_trips_with_every_form_of_key_id(string keyId)
    {
        var sent = SampleConfidentialDetect();
        sent = new DetectRequest { EncryptedFile = sent.EncryptedFile, Credentials = sent.Credentials, Result = new ConfidentialResultRequest { KeyId = keyId, InputName = "a.jpg.enc", Annotate = true } };

        var decoded = (DetectRequest)ProtocolCodec.DecodeRequest(ProtocolCodec.EncodeRequest(sent));

        Assert.Equal((keyId, "a.jpg.enc", true), (decoded.Result!.KeyId, decoded.Result.InputName, decoded.Result.Annotate));
    }

    [Theory]
    [InlineData("publicKey")]
    [InlineData("recipient")]
    [InlineData("plaintextFallback")]
    public void The_result_map_refuses_fields_it_does_not_know(string field)
    {
        var request = CborTree.ReadMap(ProtocolCodec.EncodeRequest(SampleConfidentialDetect()));
        ((Dictionary<string, object?>)request["result"]!)[field] = true;

        var error = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(EncodeTree(request)));

        Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
        Assert.Contains($"unknown field '{field}'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("keyId", null)]
    [InlineData("keyId", 42L)]
    [InlineData("inputName", null)]
    [InlineData("annotate", "yes")]
    public void A_result_map_with_a_missing_or_mistyped_field_is_BadRequest(string field, object? value)
    {
        var request = CborTree.ReadMap(ProtocolCodec.EncodeRequest(SampleConfidentialDetect()));
        var result = (Dictionary<string, object?>)request["result"]!;
        if (value is null)
        {
            result.Remove(field);
        }
        else
        {
            result[field] = value;
        }

        Assert.Equal(ProtocolErrorCodes.BadRequest, Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(EncodeTree(request))).Code);
    }

    [Fact]
    public void A_confidential_answer_carrying_objects_is_refused_by_the_client()
    {
        var open = ProtocolCodec.EncodeDetectResponse(new DetectResponse
        {
            Objects = [new DetectedObject("airplane", 5, 0.9, new BoundingBox(0, 0, 1, 1), new BoundingBox(0, 0, 10, 10))],
            ImageWidth = 10,
            ImageHeight = 10,
            Model = "m",
            Timings = new Dictionary<string, double>(),
        });

        Assert.Equal(ProtocolErrorCodes.BadRequest, Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeConfidentialDetectResponse(open)).Code);
    }

    [Fact]
    public void A_confidential_answer_round_trips_without_objects_or_image_size()
    {
        var encoded = ProtocolCodec.EncodeConfidentialDetectResponse(new ConfidentialDetectResponse
        {
            Model = "m",
            EncryptedResult = [1, 2, 3],
            EncryptedAnnotatedImage = [4, 5],
            Timings = new Dictionary<string, double> { ["encrypt"] = 1.5, ["total"] = 9 },
        });

        var decoded = ProtocolCodec.DecodeConfidentialDetectResponse(encoded);
        var fields = CborTree.ReadMap(encoded);

        Assert.Equal((byte[])[1, 2, 3], decoded.EncryptedResult);
        Assert.Equal((byte[])[4, 5], decoded.EncryptedAnnotatedImage);
        Assert.Equal(1.5, decoded.Timings["encrypt"]);
        Assert.Equal(["annotatedImage", "model", "result", "timings"], ((Dictionary<string, object?>)fields["result"]!).Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Another_version_is_UnsupportedVersion()
    {
        var w = new CborWriter();
        w.WriteStartMap(2);
        w.WriteTextString("v");
        w.WriteInt32(2);
        w.WriteTextString("op");
        w.WriteTextString("Describe");
        w.WriteEndMap();

        Assert.Equal(ProtocolErrorCodes.UnsupportedVersion, Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(w.Encode())).Code);
    }

    [Theory]
    [InlineData(-0.1, null)]
    [InlineData(1.5, null)]
    [InlineData(null, 0)]
    [InlineData(null, 100_000)]
    public void Out_of_range_options_are_BadRequest(double? minScore, int? maxResults)
    {
        var request = ProtocolCodec.EncodeRequest(new DetectRequest
        {
            EncryptedFile = [1],
            Credentials = SampleDetect().Credentials,
            Options = new DetectionRequestOptions { MinScore = minScore, MaxResults = maxResults },
        });

        Assert.Equal(ProtocolErrorCodes.BadRequest, Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeRequest(request)).Code);
    }

    [Fact]
    public void Thousands_of_mutated_requests_give_a_request_or_a_protocol_error_and_nothing_else()
    {
        var random = new Random(20261123);
        var seeds = new[] { ProtocolCodec.EncodeRequest(SampleDetect()), ProtocolCodec.EncodeRequest(SampleConfidentialDetect()), ProtocolCodec.EncodeRequest(new AttestRequest { Nonce = [1, 2, 3] }), ProtocolCodec.EncodeRequest(new DescribeRequest()) };
        for (var i = 0; i < 5000; i++)
        {
            var bytes = (byte[])seeds[i % seeds.Length].Clone();
            switch (random.Next(3))
            {
                case 0:
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes = bytes[..random.Next(bytes.Length)];
                    break;
                default:
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                    break;
            }

            try
            {
                Assert.NotNull(ProtocolCodec.DecodeRequest(bytes));
            }
            catch (EnclaveProtocolException)
            {
                // The only acceptable failure.
            }
        }
    }

    /// <summary>Writes back what CborTree read, so a test can edit a request field by field.</summary>
    private static byte[] EncodeTree(Dictionary<string, object?> tree)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        Write(tree);
        return w.Encode();

        void Write(object? value)
        {
            switch (value)
            {
                case Dictionary<string, object?> map:
                    w.WriteStartMap(map.Count);
                    foreach (var (key, item) in map)
                    {
                        w.WriteTextString(key);
                        Write(item);
                    }

                    w.WriteEndMap();
                    break;
                case List<object?> list:
                    w.WriteStartArray(list.Count);
                    list.ForEach(Write);
                    w.WriteEndArray();
                    break;
                case string text:
                    w.WriteTextString(text);
                    break;
                case byte[] bytes:
                    w.WriteByteString(bytes);
                    break;
                case long number:
                    w.WriteInt64(number);
                    break;
                case double number:
                    w.WriteDouble(number);
                    break;
                case bool flag:
                    w.WriteBoolean(flag);
                    break;
            }
        }
    }
}
