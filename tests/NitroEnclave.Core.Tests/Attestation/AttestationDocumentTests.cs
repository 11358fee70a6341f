using System.Formats.Cbor;
using System.Security.Cryptography;
using NitroEnclave.Attestation;

namespace NitroEnclave.Tests.Attestation;

public sealed class AttestationDocumentTests
{
    [Fact]
    public void The_debug_document_of_2024_has_a_fixed_length_map_and_zero_image_pcrs()
    {
        var document = AttestationDocument.Parse(RealDocuments.Debug);

        Assert.Equal("i-0bbf1bfe232b8c2ce-enc0193db54d723113f", document.ModuleId);
        Assert.Equal("SHA384", document.Digest);
        Assert.Equal(new DateTimeOffset(2024, 12, 20, 0, 13, 54, 557, TimeSpan.Zero), document.Timestamp);
        Assert.Equal((ulong)document.Timestamp.ToUnixTimeMilliseconds(), document.TimestampMilliseconds);
        Assert.False(document.IsIndefiniteLengthMap);
        Assert.Equal(Enumerable.Range(0, 16), document.Pcrs.Keys);
        Assert.All(document.Pcrs.Values, v => Assert.Equal(48, v.Length));
        Assert.True(document.IsDebugMode);
        foreach (var index in new[] { 0, 1, 2, 8 })
        {
            Assert.Equal(new string('0', 96), document.GetPcrHex(index));
        }

        Assert.Equal(-35, document.Algorithm);
        Assert.Equal(96, document.Signature.Length);
        Assert.Equal(RealDocuments.Debug, document.Encoded);
    }

    [Fact]
    public void The_enclave_document_of_2026_has_an_indefinite_length_map_and_real_measurements()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);

        Assert.Equal("i-0340e0cb833504eb6-enc019c12d31f78864d", document.ModuleId);
        Assert.True(document.IsIndefiniteLengthMap);
        Assert.Equal(0xBF, document.Payload[0]);
        Assert.False(document.IsDebugMode);
        Assert.StartsWith("9baef839", document.GetPcrHex(0), StringComparison.Ordinal);
        Assert.Equal(16, document.PcrHex.Count);
        Assert.Null(document.GetPcrHex(16));
        Assert.Equal(5, document.PublicKey!.Length);
        Assert.Equal(68, document.UserData!.Length);
        Assert.Equal(20, document.Nonce!.Length);
    }

    [Fact]
    public void The_ca_bundle_is_root_first_and_its_root_is_the_aws_root()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);

        Assert.Equal(4, document.CaBundle.Count);
        Assert.Equal(RealDocuments.AwsRoot.RawData, document.CaBundle[0].RawData);
        Assert.Equal(AwsNitroRoot.Sha256Fingerprint, Convert.ToHexStringLower(SHA256.HashData(AwsNitroRoot.Certificate().RawData)));
        Assert.Contains(document.ModuleId, document.Certificate.Subject, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Tagged_or_untagged_outer_arrays_and_fixed_or_indefinite_maps_parse_to_the_same_fields(bool tagged, bool indefinite)
    {
        using var builder = new TestAttestationBuilder { Tagged = tagged, IndefiniteLengthMap = indefinite, Nonce = [1, 2, 3] };

        var document = AttestationDocument.Parse(builder.Build());

        Assert.Equal(indefinite, document.IsIndefiniteLengthMap);
        Assert.Equal(builder.ModuleId, document.ModuleId);
        Assert.Equal(builder.Timestamp, document.Timestamp);
        Assert.Equal(builder.Pcrs[7], document.Pcrs[7]);
        Assert.Equal([1, 2, 3], document.Nonce);
        Assert.Null(document.UserData);
        Assert.Equal(builder.Chain.Count - 1, document.CaBundle.Count);
        Assert.True(new AttestationVerifier([builder.Root]).Verify(document, null, builder.Timestamp).IsValid);
    }

    [Fact]
    public void Base64_text_and_raw_files_load_alike()
    {
        var directory = Directory.CreateTempSubdirectory("attest-");
        try
        {
            var raw = Path.Combine(directory.FullName, "doc.cbor");
            File.WriteAllBytes(raw, RealDocuments.Enclave);
            var wrapped = Path.Combine(directory.FullName, "doc.b64");
            File.WriteAllText(wrapped, Convert.ToBase64String(RealDocuments.Enclave, Base64FormattingOptions.InsertLineBreaks) + "\n");

            Assert.Equal(RealDocuments.Enclave, AttestationDocument.Load(raw).Encoded);
            Assert.Equal(RealDocuments.Enclave, AttestationDocument.Load(wrapped).Encoded);
            Assert.Equal(RealDocuments.Enclave, AttestationDocument.Load(RealDocuments.EnclavePath).Encoded);
            Assert.Equal(RealDocuments.Debug, AttestationDocument.ParseBase64(File.ReadAllText(RealDocuments.DebugPath)).Encoded);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    public static TheoryData<string, byte[]> MalformedInputs()
    {
        using var builder = new TestAttestationBuilder();
        var good = builder.Build();
        var payload = builder.Payload(builder.CaBundle());
        return new TheoryData<string, byte[]>
        {
            { "empty", [] },
            { "text", "hello"u8.ToArray() },
            { "truncated", good[..(good.Length / 2)] },
            { "trailing byte", [.. good, 0] },
            { "array of 3", [0x83, 0x40, 0xA0, 0x40] },
            { "wrong tag", [0xD8, 0x62, .. good] },
            { "payload not a map", builder.Sign([0x01]) },
            { "payload missing certificate", builder.Sign(RemoveKey(payload, "certificate")) },
            { "payload with duplicate key", builder.Sign(DuplicateModuleId(payload)) },
            { "payload with a key repeated in a longer encoding", builder.Sign(DuplicateModuleId(payload, [0x78, 0x09, .. "module_id"u8])) },
            { "payload with a PCR index repeated in a longer encoding", builder.Sign(DuplicatePcr0(payload)) },
            { "payload with invalid UTF-8 in module_id", builder.Sign(ReplaceValue(payload, "module_id", InvalidUtf8)) },
            { "payload with invalid UTF-8 in a key the parser skips", builder.Sign(AddEntry(payload, InvalidUtf8, [0x00])) },
            { "certificate not DER", builder.Sign(ReplaceCertificate(payload, [0x30, 0x03, 0x02, 0x01, 0x01])) },
            { "huge declared length", [0x84, 0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] },
            { "base64 garbage", "!!!not base64!!!"u8.ToArray() },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedInputs))]
    public void Malformed_input_is_a_typed_AttestationMalformed_error(string name, byte[] input)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => AttestationDocument.ParseBinaryOrBase64(input));

        Assert.Equal(AttestationErrors.Malformed, error.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, error.Kind);
        Assert.False(string.IsNullOrEmpty(name));
    }

    private static byte[] RemoveKey(byte[] payload, string removed) => RewriteMap(payload, (key, reader, writer) =>
    {
        if (key == removed)
        {
            reader.SkipValue();
            return;
        }

        writer.WriteTextString(key);
        writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
    });

    /// <summary>"\xC3(": a two-byte sequence whose second byte is not a continuation byte.</summary>
    private static readonly byte[] InvalidUtf8 = [0x62, 0xC3, 0x28];

    /// <summary>Writes module_id a second time, with <paramref name="encodedKey"/> when given (the same text in other bytes).</summary>
    private static byte[] DuplicateModuleId(byte[] payload, byte[]? encodedKey = null) => RewriteMap(payload, (key, reader, writer) =>
    {
        var value = reader.ReadEncodedValue().Span;
        writer.WriteTextString(key);
        writer.WriteEncodedValue(value);
        if (key == "module_id")
        {
            if (encodedKey is null)
            {
                writer.WriteTextString(key);
            }
            else
            {
                writer.WriteEncodedValue(encodedKey);
            }

            writer.WriteEncodedValue(value);
        }
    });

    /// <summary>Adds PCR 0 again to the pcrs map, its index as a two-byte integer (0x18 0x00).</summary>
    private static byte[] DuplicatePcr0(byte[] payload) => RewriteMap(payload, (key, reader, writer) =>
    {
        writer.WriteTextString(key);
        if (key != "pcrs")
        {
            writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
            return;
        }

        var count = reader.ReadStartMap()!.Value;
        writer.WriteStartMap(count + 1);
        for (var i = 0; i < count; i++)
        {
            writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
            writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
        }

        reader.ReadEndMap();
        writer.WriteEncodedValue([0x18, 0x00]);
        writer.WriteByteString(new byte[48]);
        writer.WriteEndMap();
    });

    private static byte[] ReplaceValue(byte[] payload, string replaced, byte[] encodedValue) => RewriteMap(payload, (key, reader, writer) =>
    {
        writer.WriteTextString(key);
        var value = reader.ReadEncodedValue().Span;
        writer.WriteEncodedValue(key == replaced ? encodedValue : value);
    });

    private static byte[] AddEntry(byte[] payload, byte[] encodedKey, byte[] encodedValue)
    {
        var entries = 0;
        return RewriteMap(payload, (key, reader, writer) =>
        {
            writer.WriteTextString(key);
            writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
            if (++entries == 1)
            {
                writer.WriteEncodedValue(encodedKey);
                writer.WriteEncodedValue(encodedValue);
            }
        });
    }

    private static byte[] ReplaceCertificate(byte[] payload, byte[] der) => RewriteMap(payload, (key, reader, writer) =>
    {
        writer.WriteTextString(key);
        if (key == "certificate")
        {
            reader.SkipValue();
            writer.WriteByteString(der);
        }
        else
        {
            writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
        }
    });

    /// <summary>Copies a payload map entry by entry, letting <paramref name="entry"/> change what is written.</summary>
    internal static byte[] RewriteMap(byte[] payload, Action<string, CborReader, CborWriter> entry)
    {
        var reader = new CborReader(payload, CborConformanceMode.Lax);
        var writer = new CborWriter(CborConformanceMode.Lax, allowMultipleRootLevelValues: false);
        reader.ReadStartMap();
        writer.WriteStartMap(null);
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            entry(reader.ReadTextString(), reader, writer);
        }

        writer.WriteEndMap();
        return writer.Encode();
    }
}
