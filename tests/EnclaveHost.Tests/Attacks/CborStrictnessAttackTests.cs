using System.Formats.Cbor;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests.Attacks;

/// <summary>
/// The parent sends requests that CBOR readers disagree on: a key given twice (the same key in a longer encoding
/// gets past a reader that compares bytes), text that is not UTF-8 (a lax reader reads U+FFFD and carries on) and
/// strings sent in chunks. Each must be answered BadRequest, neither read one way nor crash the server, and the
/// server must then serve a legitimate request.
/// </summary>
public sealed class CborStrictnessAttackTests(HostileParentFixture parent) : IClassFixture<HostileParentFixture>
{
    /// <summary>"\xC3(": a lead byte followed by a byte that cannot continue it.</summary>
    private static readonly byte[] InvalidUtf8 = [0x62, 0xC3, 0x28];

    public static TheoryData<string, byte[], string> AmbiguousRequests() => new()
    {
        { "op twice, Describe then Attest", Request(w => { Text(w, "op", "Describe"); Text(w, "op", "Attest"); }), "duplicate" },
        { "op twice, the second key in a longer encoding", Request(w => { Text(w, "op", "Describe"); w.WriteEncodedValue([0x78, 0x02, .. "op"u8]); w.WriteTextString("Attest"); }), "duplicate key 'op'" },
        { "a nonce twice", Request(w => { Text(w, "op", "Attest"); Bytes(w, "nonce", [1]); w.WriteEncodedValue([0x78, 0x05, .. "nonce"u8]); w.WriteByteString([2]); }), "duplicate key 'nonce'" },
        { "op not UTF-8", Request(w => { w.WriteTextString("op"); w.WriteEncodedValue(InvalidUtf8); }), "utf" },
        { "a key not UTF-8", Request(w => { Text(w, "op", "Describe"); w.WriteEncodedValue(InvalidUtf8); w.WriteInt32(0); }), "utf" },
        { "op in chunks", Request(w => { w.WriteTextString("op"); w.WriteEncodedValue([0x7F, 0x64, .. "Desc"u8, 0x64, .. "ribe"u8, 0xFF]); }), "indefinite-length" },
        { "a nonce in chunks", Request(w => { Text(w, "op", "Attest"); w.WriteTextString("nonce"); w.WriteEncodedValue([0x5F, 0x41, 0x01, 0x41, 0x02, 0xFF]); }), "indefinite-length" },
        { "a key in chunks", Request(w => { Text(w, "op", "Describe"); w.WriteEncodedValue([0x7F, 0x61, .. "x"u8, 0xFF]); w.WriteInt32(0); }), "indefinite-length" },
    };

    /// <summary>
    /// The reason must be in the answer. Where the CBOR reader finds the fault, the server (built with
    /// UseSystemResourceKeys) names it by the runtime's resource key, such as
    /// Cbor_Reader_InvalidCbor_InvalidUtf8StringEncoding, so the reason is matched regardless of case.
    /// </summary>
    [Theory]
    [MemberData(nameof(AmbiguousRequests))]
    public async Task An_ambiguous_request_is_BadRequest_and_the_server_serves_on(string why, byte[] payload, string reason)
    {
        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(async () => ProtocolCodec.DecodeAttestResponse(await parent.SendRawAsync(payload)));

        Assert.True(error.Code == ProtocolErrorCodes.BadRequest, why);
        Assert.True(error.Message.Contains(reason, StringComparison.OrdinalIgnoreCase), error.Message);
        Assert.True(parent.ServerIsRunning);
        Assert.Equal("NitroEnclave.EnclaveHost", (await parent.Client().DescribeAsync(CancellationToken.None)).Server);
    }

    /// <summary>
    /// The data owner's file with the parent's credentials, its region not UTF-8: a lax reader would have sent
    /// "us-east-1\uFFFD(" on to KMS. The server refuses before any KMS call, then detects the same file sent properly.
    /// </summary>
    [Fact]
    public async Task A_detect_request_with_a_region_that_is_not_UTF8_never_reaches_KMS()
    {
        var credentials = parent.ParentCredentials;
        byte[] Detect(byte[] region, byte[] label) => Request(w =>
        {
            Text(w, "op", "Detect");
            Bytes(w, "file", parent.EncryptedImage);
            w.WriteTextString("aws");
            w.WriteStartMap(3);
            Text(w, "accessKeyId", credentials.AccessKeyId);
            Text(w, "secretAccessKey", credentials.SecretAccessKey);
            w.WriteTextString("region");
            w.WriteEncodedValue(region);
            w.WriteEndMap();
            w.WriteTextString("options");
            w.WriteStartMap(1);
            w.WriteTextString("classes");
            w.WriteStartArray(1);
            w.WriteEncodedValue(label);
            w.WriteEndArray();
            w.WriteEndMap();
        });
        var region = Encoded(credentials.Region);
        var kmsTrafficBefore = parent.KmsTraffic.SentText().Length;

        foreach (var payload in new[] { Detect(InvalidUtf8, Encoded("airplane")), Detect(region, InvalidUtf8) })
        {
            var error = await Assert.ThrowsAsync<EnclaveProtocolException>(async () => ProtocolCodec.DecodeDetectResponse(await parent.SendRawAsync(payload)));
            Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
            Assert.Contains("utf", error.Message, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(kmsTrafficBefore, parent.KmsTraffic.SentText().Length);
        var detection = ProtocolCodec.DecodeDetectResponse(await parent.SendRawAsync(Detect(region, Encoded("airplane"))));
        Assert.Equal(5, detection.Objects.Count(o => o.Label == "airplane"));
    }

    /// <summary>A request map {"v": 1, ...}, indefinite-length as the client writes it, with the fields <paramref name="body"/> writes.</summary>
    private static byte[] Request(Action<CborWriter> body)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        w.WriteTextString("v");
        w.WriteInt32(EnclaveProtocol.Version);
        body(w);
        w.WriteEndMap();
        return w.Encode();
    }

    private static void Text(CborWriter w, string key, string value)
    {
        w.WriteTextString(key);
        w.WriteTextString(value);
    }

    private static void Bytes(CborWriter w, string key, byte[] value)
    {
        w.WriteTextString(key);
        w.WriteByteString(value);
    }

    private static byte[] Encoded(string text)
    {
        var w = new CborWriter();
        w.WriteTextString(text);
        return w.Encode();
    }
}
