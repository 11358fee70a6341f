using System.Buffers.Binary;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using NitroEnclave.Cose;
using NitroEnclave.Eif;

namespace NitroEnclave.Tests.Eif;

public sealed class EnclaveImageReaderTests
{
    private static EnclaveImage Read(byte[] image) => EnclaveImageReader.Read(new MemoryStream(image), "test.eif");

    private static NitroEnclaveException ReadFails(byte[] image) => Assert.Throws<NitroEnclaveException>(() => Read(image));

    [Fact]
    public void The_reference_formula_vectors_hold()
    {
        Assert.Equal("21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a", Pcr.ToHex(Pcr.Measure([])));
        Assert.Equal("93732e3733514a841c982cfa75ea76ab55fe011acb9cd980ef4523913c65be1b0998e04d77f8c174f81a82151619ca40", Pcr.ToHex(Pcr.Measure("abc"u8)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(300_000)]
    [InlineData(9_000_000)]
    public void Pcrs_match_the_plain_computation(int applicationSize)
    {
        var builder = TestEifBuilder.Typical(applicationSize);

        var image = Read(builder.Build());

        Assert.Equal(builder.ExpectedPcr0(), image.Measurements.PCR0);
        Assert.Equal(builder.ExpectedPcr1(), image.Measurements.PCR1);
        Assert.Equal(builder.ExpectedPcr2(), image.Measurements.PCR2);
        Assert.Null(image.Measurements.PCR8);
        Assert.True(image.CheckCrc);
        Assert.Equal(image.StoredCrc, image.ComputedCrc);
    }

    [Fact]
    public void An_image_with_one_ramdisk_has_the_empty_PCR2_of_the_reference()
    {
        var builder = new TestEifBuilder().Section(1, [1, 2, 3]).Section(2, "console=ttyS0"u8.ToArray()).Section(3, [4, 5, 6]);

        var image = Read(builder.Build());

        Assert.Equal("21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a", image.Measurements.PCR2);
        Assert.Equal(image.Measurements.PCR0, image.Measurements.PCR1);
    }

    [Fact]
    public void Header_fields_sections_and_metadata_are_reported()
    {
        var builder = TestEifBuilder.Typical();
        builder.Flags = 1;
        var bytes = builder.Build();

        var image = Read(bytes);

        Assert.Equal(4, image.EifVersion);
        Assert.Equal("aarch64", image.Architecture);
        Assert.Equal(bytes.Length, image.Size);
        Assert.Equal([EifSectionType.Kernel, EifSectionType.Cmdline, EifSectionType.Metadata, EifSectionType.Ramdisk, EifSectionType.Ramdisk], image.Sections.Select(s => s.Type));
        Assert.Equal(548, image.Sections[0].Offset);
        Assert.Equal(548 + 12 + 3000, image.Sections[1].Offset);
        Assert.Equal("hello", image.ImageName);
        Assert.Equal("1.0", image.ImageVersion);
        Assert.Equal("nitro-cli", image.BuildMetadata!.BuildTool);
        Assert.Equal("6.1", image.BuildMetadata.KernelVersion);
        Assert.Contains("sha256:abc", image.DockerInfo, StringComparison.Ordinal);
        Assert.Null(image.CustomMetadata);
    }

    [Fact]
    public void A_signed_image_has_PCR8_over_the_certificate_and_a_verified_signature()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var certificate = new CertificateRequest("CN=Enclave Signer", key, HashAlgorithmName.SHA384)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var builder = TestEifBuilder.Typical();
        var pcr0 = Convert.FromHexString(builder.ExpectedPcr0());
        builder.Section(4, SignatureSection(certificate, key, pcr0));

        var image = Read(builder.Build());

        Assert.True(image.IsSigned);
        Assert.True(image.SignatureCheck);
        Assert.Equal(certificate.Thumbprint, image.SigningCertificate!.Thumbprint);
        var expectedPcr8 = Convert.ToHexString(SHA384.HashData(new byte[48].Concat(SHA384.HashData(certificate.RawData)).ToArray())).ToLowerInvariant();
        Assert.Equal(expectedPcr8, image.Measurements.PCR8);
        Assert.Equal(builder.ExpectedPcr0(), image.Measurements.PCR0);
    }

    [Fact]
    public void A_signature_over_another_PCR0_fails_the_signature_check()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var certificate = new CertificateRequest("CN=Enclave Signer", key, HashAlgorithmName.SHA384)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var builder = TestEifBuilder.Typical().Section(4, SignatureSection(certificate, key, new byte[48]));

        var image = Read(builder.Build());

        Assert.True(image.IsSigned);
        Assert.False(image.SignatureCheck);
    }

    [Fact]
    public void A_crc_mismatch_is_reported_not_thrown()
    {
        var builder = TestEifBuilder.Typical();
        builder.CrcOverride = 1234;

        var image = Read(builder.Build());

        Assert.False(image.CheckCrc);
        Assert.False(image.Measurements.CrcValid);
        Assert.Equal(1234u, image.StoredCrc);
    }

    [Fact]
    public void Flipping_a_data_byte_changes_the_crc_check_and_the_pcrs()
    {
        var builder = TestEifBuilder.Typical();
        var bytes = builder.Build();
        bytes[^10] ^= 0x01;

        var image = Read(bytes);

        Assert.False(image.CheckCrc);
        Assert.NotEqual(builder.ExpectedPcr0(), image.Measurements.PCR0);
        Assert.NotEqual(builder.ExpectedPcr2(), image.Measurements.PCR2);
        Assert.Equal(builder.ExpectedPcr1(), image.Measurements.PCR1);
    }

    [Fact]
    public void Not_an_eif()
    {
        Assert.Equal(EifErrors.NotAnImage, ReadFails("PK\u0003\u0004 this is a zip"u8.ToArray()).ErrorId);
        Assert.Equal(EifErrors.NotAnImage, ReadFails([]).ErrorId);
    }

    [Fact]
    public void Truncated_header()
    {
        Assert.Equal(EifErrors.Truncated, ReadFails(TestEifBuilder.Typical().Build()[..300]).ErrorId);
    }

    [Fact]
    public void Truncated_section_header()
    {
        var bytes = TestEifBuilder.Typical().Build();
        Assert.Equal(EifErrors.Truncated, ReadFails(bytes[..(548 + 5)]).ErrorId);
    }

    [Fact]
    public void Section_size_past_the_end_of_the_file()
    {
        var bytes = TestEifBuilder.Typical().Build();
        var error = ReadFails(bytes[..^1]);
        Assert.Equal(EifErrors.SectionOutOfBounds, error.ErrorId);
        Assert.Contains("Ramdisk", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    [InlineData(0xFFFF)]
    public void Unknown_section_type(ushort type)
    {
        var builder = TestEifBuilder.Typical().Section(type, [1, 2, 3]);
        Assert.Equal(EifErrors.UnknownSectionType, ReadFails(builder.Build()).ErrorId);
    }

    [Fact]
    public void No_ramdisk()
    {
        var builder = new TestEifBuilder().Section(1, [1]).Section(2, [2]);
        var error = ReadFails(builder.Build());
        Assert.Equal(EifErrors.MissingSection, error.ErrorId);
        Assert.Contains("ramdisk", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_kernel()
    {
        var builder = new TestEifBuilder().Section(2, [2]).Section(3, [3]);
        Assert.Equal(EifErrors.MissingSection, ReadFails(builder.Build()).ErrorId);
    }

    [Theory]
    [InlineData((ushort)1)]
    [InlineData((ushort)5)]
    [InlineData((ushort)0xFFFF)]
    public void Unsupported_version(ushort version)
    {
        var builder = TestEifBuilder.Typical();
        builder.Version = version;
        Assert.Equal(EifErrors.UnsupportedVersion, ReadFails(builder.Build()).ErrorId);
    }

    [Fact]
    public void Section_count_out_of_range()
    {
        var bytes = TestEifBuilder.Typical().Build();
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(26), 33);
        Assert.Equal(EifErrors.SectionCount, ReadFails(bytes).ErrorId);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(26), 0);
        Assert.Equal(EifErrors.SectionCount, ReadFails(bytes).ErrorId);
    }

    [Fact]
    public void A_header_offset_table_that_disagrees_with_the_sections()
    {
        var bytes = TestEifBuilder.Typical().Build();
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(28 + 8), 999);
        Assert.Equal(EifErrors.SectionTableMismatch, ReadFails(bytes).ErrorId);
    }

    [Fact]
    public void Trailing_bytes_after_the_last_section()
    {
        var bytes = TestEifBuilder.Typical().Build().Concat(new byte[] { 0 }).ToArray();
        Assert.Equal(EifErrors.TrailingData, ReadFails(bytes).ErrorId);
    }

    [Fact]
    public void Metadata_that_is_not_json()
    {
        var builder = new TestEifBuilder().Section(1, [1]).Section(2, [2]).Section(5, "not json"u8.ToArray()).Section(3, [3]);
        Assert.Equal(EifErrors.InvalidMetadata, ReadFails(builder.Build()).ErrorId);
    }

    [Fact]
    public void A_signature_section_that_is_not_cbor()
    {
        var builder = TestEifBuilder.Typical().Section(4, [0xFF, 0x00, 0x13]);
        Assert.Equal(EifErrors.InvalidSignatureSection, ReadFails(builder.Build()).ErrorId);
    }

    [Fact]
    public void Every_truncation_of_a_valid_image_is_a_typed_error()
    {
        var bytes = TestEifBuilder.Typical(applicationSize: 200).Build();
        for (var length = 0; length < bytes.Length; length += 7)
        {
            var error = ReadFails(bytes[..length]);
            Assert.StartsWith("Eif", error.ErrorId, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Reading_a_file_by_path_gives_the_same_result_as_a_stream()
    {
        var builder = TestEifBuilder.Typical(applicationSize: 5_000_000);
        var path = Path.Combine(Path.GetTempPath(), $"eif-{Guid.NewGuid():N}.eif");
        try
        {
            builder.Write(path);
            var image = EnclaveImageReader.Read(path);
            Assert.Equal(path, image.Path);
            Assert.Equal(builder.ExpectedPcr0(), image.Measurements.PCR0);
            Assert.Equal(builder.ExpectedPcr2(), image.Measurements.PCR2);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Cancellation_stops_a_read()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => EnclaveImageReader.Read(new MemoryStream(TestEifBuilder.Typical().Build()), null, cancelled.Token));
    }

    public static TheoryData<string, Action<CborWriter>?, Action<CborWriter>?> AmbiguousSignatureEntries() => new()
    {
        { "the signature field twice", w => { w.WriteTextString("signature"); WriteIntegerArray(w, [0x84]); }, null },
        { "a key with invalid UTF-8", w => { w.WriteEncodedValue([0x62, 0xC3, 0x28]); w.WriteInt32(0); }, null },
        { "register_value twice in the signed payload", null, w => { w.WriteTextString("register_value"); WriteIntegerArray(w, new byte[48]); } },
        { "register_index twice, once in a longer encoding", null, w => { w.WriteEncodedValue([0x78, 0x0E, .. "register_index"u8]); w.WriteInt32(1); } },
    };

    /// <summary>
    /// An entry or a signed payload with a field twice, or text that is not UTF-8, has no single reading: it is refused
    /// rather than read the way the last field or a replacement character happens to make it.
    /// </summary>
    [Theory]
    [MemberData(nameof(AmbiguousSignatureEntries))]
    public void An_ambiguous_signature_section_is_InvalidSignatureSection(string why, Action<CborWriter>? extraEntryField, Action<CborWriter>? extraPayloadField)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var certificate = new CertificateRequest("CN=Enclave Signer", key, HashAlgorithmName.SHA384)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var builder = TestEifBuilder.Typical();
        var pcr0 = Convert.FromHexString(builder.ExpectedPcr0());
        builder.Section(4, SignatureSection(certificate, key, pcr0, extraEntryField, extraPayloadField));

        var error = ReadFails(builder.Build());

        Assert.True(error.ErrorId == EifErrors.InvalidSignatureSection, why);
    }

    /// <summary>
    /// The signature section as nitro-cli writes it: byte fields as CBOR arrays of integers. A test may add one field to
    /// the entry or to the signed payload.
    /// </summary>
    internal static byte[] SignatureSection(X509Certificate2 certificate, ECDsa key, byte[] pcr0, Action<CborWriter>? extraEntryField = null, Action<CborWriter>? extraPayloadField = null)
    {
        var payload = new CborWriter(CborConformanceMode.Lax);
        payload.WriteStartMap(extraPayloadField is null ? 2 : 3);
        payload.WriteTextString("register_index");
        payload.WriteInt32(0);
        payload.WriteTextString("register_value");
        WriteIntegerArray(payload, pcr0);
        extraPayloadField?.Invoke(payload);
        payload.WriteEndMap();
        var cose = CoseSign1.Sign(payload.Encode(), key);

        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteStartArray(1);
        writer.WriteStartMap(extraEntryField is null ? 2 : 3);
        writer.WriteTextString("signing_certificate");
        WriteIntegerArray(writer, Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()));
        writer.WriteTextString("signature");
        WriteIntegerArray(writer, cose);
        extraEntryField?.Invoke(writer);
        writer.WriteEndMap();
        writer.WriteEndArray();
        return writer.Encode();
    }

    private static void WriteIntegerArray(CborWriter writer, byte[] bytes)
    {
        writer.WriteStartArray(bytes.Length);
        foreach (var b in bytes)
        {
            writer.WriteUInt32(b);
        }

        writer.WriteEndArray();
    }
}
