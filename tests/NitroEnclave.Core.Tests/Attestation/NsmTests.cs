using System.Formats.Cbor;
using System.Security.Cryptography;
using NitroEnclave.Attestation;
using NitroEnclave.Eif;

namespace NitroEnclave.Tests.Attestation;

public sealed class NsmCodecTests
{
    public static TheoryData<string, byte[]> Requests() => new()
    {
        { "DescribeNSM", NsmCodec.EncodeRequest(NsmBareRequest.DescribeNsm) },
        { "GetRandom", NsmCodec.EncodeRequest(NsmBareRequest.GetRandom) },
        { "Attestation", NsmCodec.EncodeRequest(new NsmAttestationRequest([1], null, [2, 3])) },
        { "DescribePCR", NsmCodec.EncodeRequest(new NsmDescribePcrRequest(7)) },
        { "ExtendPCR", NsmCodec.EncodeRequest(new NsmExtendPcrRequest(16, [9, 9])) },
        { "LockPCR", NsmCodec.EncodeRequest(new NsmLockPcrRequest(17)) },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public void Requests_round_trip_and_keep_their_name(string name, byte[] encoded)
    {
        var decoded = NsmCodec.DecodeRequest(encoded);

        Assert.Equal(name, decoded.Name);
        Assert.Equal(encoded, NsmCodec.EncodeRequest(decoded));
    }

    [Fact]
    public void Bare_requests_are_text_strings_and_others_one_entry_maps()
    {
        Assert.Equal([0x6B, .. "DescribeNSM"u8], NsmCodec.EncodeRequest(NsmBareRequest.DescribeNsm));

        var reader = new CborReader(NsmCodec.EncodeRequest(new NsmAttestationRequest(null, [5], null)));
        Assert.Equal(1, reader.ReadStartMap());
        Assert.Equal("Attestation", reader.ReadTextString());
        Assert.Equal(3, reader.ReadStartMap());
        Assert.Equal("user_data", reader.ReadTextString());
        reader.ReadNull();
        Assert.Equal("nonce", reader.ReadTextString());
        Assert.Equal([5], reader.ReadByteString());
        Assert.Equal("public_key", reader.ReadTextString());
        reader.ReadNull();

        var extend = new CborReader(NsmCodec.EncodeRequest(new NsmExtendPcrRequest(16, [1])));
        extend.ReadStartMap();
        Assert.Equal("ExtendPCR", extend.ReadTextString());
        extend.ReadStartMap();
        Assert.Equal("index", extend.ReadTextString());
        Assert.Equal(16u, extend.ReadUInt32());
        Assert.Equal("data", extend.ReadTextString());
    }

    [Fact]
    public void Responses_round_trip_including_errors()
    {
        NsmResponse[] responses =
        [
            new NsmAttestationResponse([1, 2, 3]),
            new NsmDescribePcrResponse(true, new byte[48]),
            new NsmExtendPcrResponse(new byte[48]),
            NsmLockPcrResponse.Instance,
            new NsmGetRandomResponse(new byte[256]),
            new NsmDescribeNsmResponse(new NsmDescription(1, 2, 3, "i-abc-enc1", 32, [0, 1, 2], "SHA384")),
            new NsmErrorResponse(NsmErrorCodes.ReadOnlyIndex),
        ];

        foreach (var response in responses)
        {
            var encoded = NsmCodec.EncodeResponse(response);
            var decoded = NsmCodec.DecodeResponse(encoded);
            Assert.Equal(response.GetType(), decoded.GetType());
            Assert.Equal(encoded, NsmCodec.EncodeResponse(decoded));
        }

        Assert.Equal([0xA1, 0x65, .. "Error"u8, 0x6D, .. "ReadOnlyIndex"u8], NsmCodec.EncodeResponse(new NsmErrorResponse(NsmErrorCodes.ReadOnlyIndex)));
        var description = ((NsmDescribeNsmResponse)NsmCodec.DecodeResponse(NsmCodec.EncodeResponse(responses[5]))).Description;
        Assert.Equal([0, 1, 2], description.LockedPcrs);
        Assert.Equal("i-abc-enc1", description.ModuleId);
        Assert.Equal(3, description.VersionPatch);
    }

    public static TheoryData<byte[]> MalformedMessages() => new()
    {
        Array.Empty<byte>(),
        new byte[] { 0xFF },
        "\u0064Nope"u8.ToArray(),
        new byte[] { 0xA2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02 },
        NsmCodec.EncodeRequest(NsmBareRequest.GetRandom)[..5],
        (byte[])[.. NsmCodec.EncodeRequest(new NsmDescribePcrRequest(1)), 0x00],
        (byte[])[0xA1, 0x6B, .. "DescribePCR"u8, 0xA1, 0x65, .. "index"u8, 0x1A, 0x00, 0x01, 0x00, 0x00],
        (byte[])[0xA1, 0x69, .. "ExtendPCR"u8, 0xA1, 0x65, .. "index"u8, 0x01],
        (byte[])[0xA1, 0x6B, .. "DescribePCR"u8, 0x05],
    };

    [Theory]
    [MemberData(nameof(MalformedMessages))]
    public void Malformed_messages_are_typed_errors(byte[] encoded)
    {
        Assert.Equal(AttestationErrors.NsmMessageMalformed, Assert.Throws<NitroEnclaveException>(() => NsmCodec.DecodeRequest(encoded)).ErrorId);
        Assert.Equal(AttestationErrors.NsmMessageMalformed, Assert.Throws<NitroEnclaveException>(() => NsmCodec.DecodeResponse(encoded)).ErrorId);
    }

    [Fact]
    public void Invalid_UTF8_in_a_response_is_a_typed_error_not_a_replacement_character()
    {
        var description = NsmCodec.EncodeResponse(new NsmDescribeNsmResponse(new NsmDescription(1, 2, 3, "i-abc-enc1", 32, [], "SHA384")));
        var error = NsmCodec.EncodeResponse(new NsmErrorResponse(NsmErrorCodes.ReadOnlyIndex));

        foreach (var (encoded, text) in new[] { (description, "i-abc-enc1"u8.ToArray()), (error, "ReadOnlyIndex"u8.ToArray()) })
        {
            Assert.NotNull(NsmCodec.DecodeResponse(encoded));
            var damaged = (byte[])encoded.Clone();
            damaged[encoded.AsSpan().IndexOf(text)] = 0xFF;

            Assert.Equal(AttestationErrors.NsmMessageMalformed, Assert.Throws<NitroEnclaveException>(() => NsmCodec.DecodeResponse(damaged)).ErrorId);
        }
    }

    [Fact]
    public void A_field_repeated_in_a_longer_encoding_is_a_typed_error()
    {
        byte[] once = [0xA1, 0x6B, .. "Attestation"u8, 0xA1, 0x65, .. "nonce"u8, 0x41, 0x01];
        byte[] twice = [0xA1, 0x6B, .. "Attestation"u8, 0xA2, 0x65, .. "nonce"u8, 0x41, 0x01, 0x78, 0x05, .. "nonce"u8, 0x41, 0x02];

        Assert.Equal([1], ((NsmAttestationRequest)NsmCodec.DecodeRequest(once)).Nonce);
        Assert.Equal(AttestationErrors.NsmMessageMalformed, Assert.Throws<NitroEnclaveException>(() => NsmCodec.DecodeRequest(twice)).ErrorId);
    }
}

public sealed class NsmDeviceTests
{
    [Fact]
    public void Opening_a_missing_device_is_NsmDeviceNotFound()
    {
        Assert.False(File.Exists(NsmDevice.DefaultPath));

        var error = Assert.Throws<NitroEnclaveException>(() => new NsmDevice());
        var elsewhere = Assert.Throws<NitroEnclaveException>(() => new NsmDevice("/nonexistent/nsm"));

        Assert.Equal(AttestationErrors.NsmDeviceNotFound, error.ErrorId);
        Assert.Equal(ErrorKind.NotFound, error.Kind);
        Assert.Contains("/dev/nsm", error.Message, StringComparison.Ordinal);
        Assert.Equal(AttestationErrors.NsmDeviceNotFound, elsewhere.ErrorId);
    }

    [Fact]
    public void A_device_that_is_not_the_nsm_fails_its_ioctl_with_a_typed_error()
    {
        using var device = new NsmDevice("/dev/null");

        var error = Assert.Throws<NitroEnclaveException>(() => device.GetRandom());

        Assert.Equal(AttestationErrors.NsmDeviceError, error.ErrorId);
        Assert.Contains("ioctl", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Requests_larger_than_the_module_accepts_are_refused_before_sending()
    {
        using var device = new NsmDevice("/dev/null");

        var error = Assert.Throws<NitroEnclaveException>(() => device.ExtendPcr(16, new byte[5000]));

        Assert.Equal(AttestationErrors.NsmRequestTooLarge, error.ErrorId);
    }
}

public sealed class SimulatedNsmTests
{
    private static readonly byte[] Pcr0 = SHA384.HashData("image"u8);

    [Fact]
    public void Its_documents_verify_with_its_root_and_not_with_the_aws_root()
    {
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions().WithPcr(0, Pcr0));
        byte[] nonce = [1, 2, 3, 4];
        using var rsa = RSA.Create(2048);
        var publicKey = rsa.ExportSubjectPublicKeyInfo();

        var encoded = nsm.Attestation(userData: [7], nonce: nonce, publicKey: publicKey);
        var document = AttestationDocument.Parse(encoded);
        var expectations = new AttestationExpectations { Nonce = nonce, PublicKey = publicKey, MaxAge = TimeSpan.FromMinutes(1) }.ExpectPcr(0, Pcr.ToHex(Pcr0));
        var own = new AttestationVerifier([nsm.Root]).Verify(document, expectations);
        var aws = new AttestationVerifier().Verify(document, expectations);

        Assert.True(own.IsValid, string.Join("; ", own.Failures));
        Assert.Equal([AttestationRules.ChainUntrusted], aws.FailedRules);
        Assert.Equal(nsm.ModuleId, document.ModuleId);
        Assert.Matches("^i-[0-9a-f]{17}-enc[0-9a-f]{16}$", document.ModuleId);
        Assert.Equal(Enumerable.Range(0, 16), document.Pcrs.Keys);
        Assert.Equal(3, document.CaBundle.Count);
        Assert.Equal(nsm.Root.RawData, document.CaBundle[0].RawData);
        Assert.True(document.IsIndefiniteLengthMap);
        Assert.Equal([7], document.UserData);
    }

    [Fact]
    public void It_can_issue_fixed_length_maps_and_documents_without_optional_fields()
    {
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions { IndefiniteLengthMap = false });

        var document = AttestationDocument.Parse(nsm.Attestation());

        Assert.False(document.IsIndefiniteLengthMap);
        Assert.Equal(0xA9, document.Payload[0]);
        Assert.Null(document.Nonce);
        Assert.Null(document.PublicKey);
        Assert.True(new AttestationVerifier([nsm.Root]).Verify(document).IsValid);
    }

    [Fact]
    public void Given_pcrs_are_locked_and_others_extend_until_locked()
    {
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions().WithPcr(0, Pcr0));

        var pcr0 = nsm.DescribePcr(0);
        var extended = nsm.ExtendPcr(16, [1, 2]);
        var again = nsm.ExtendPcr(16, [3]);
        nsm.LockPcr(16);
        var lockedExtend = Assert.Throws<NitroEnclaveException>(() => nsm.ExtendPcr(16, [4]));
        var givenExtend = Assert.Throws<NitroEnclaveException>(() => nsm.ExtendPcr(0, [4]));
        var document = AttestationDocument.Parse(nsm.Attestation());

        Assert.True(pcr0.Locked);
        Assert.Equal(Pcr0, pcr0.Value);
        Assert.Equal(Pcr.Extend(new byte[48], [1, 2]), extended);
        Assert.Equal(Pcr.Extend(extended, [3]), again);
        Assert.Equal(again, nsm.DescribePcr(16).Value);
        Assert.True(nsm.DescribePcr(16).Locked);
        Assert.Equal(AttestationErrors.NsmError, lockedExtend.ErrorId);
        Assert.Contains(NsmErrorCodes.ReadOnlyIndex, lockedExtend.Message, StringComparison.Ordinal);
        Assert.Contains(NsmErrorCodes.ReadOnlyIndex, givenExtend.Message, StringComparison.Ordinal);
        Assert.Equal(again, document.Pcrs[16]);
        Assert.Equal([0, 16], nsm.DescribeNsm().LockedPcrs);
    }

    [Fact]
    public void Indexes_beyond_32_are_InvalidIndex_errors()
    {
        using var nsm = new SimulatedNsm();

        var error = Assert.Throws<NitroEnclaveException>(() => nsm.DescribePcr(32));

        Assert.Contains(NsmErrorCodes.InvalidIndex, error.Message, StringComparison.Ordinal);
        Assert.Equal(AttestationErrors.NsmError, error.ErrorId);
    }

    [Fact]
    public void Debug_mode_reads_every_pcr_as_zero()
    {
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions { DebugMode = true }.WithPcr(0, Pcr0));

        var document = AttestationDocument.Parse(nsm.Attestation());

        Assert.All(document.Pcrs.Values, value => Assert.Equal(new byte[48], value));
        Assert.True(document.IsDebugMode);
        Assert.Equal(new byte[48], nsm.DescribePcr(0).Value);
        Assert.Equal(new byte[48], nsm.ExtendPcr(20, [1]));
    }

    [Fact]
    public void It_starts_from_the_measurements_of_an_image()
    {
        var measurements = new EnclaveMeasurements(null, Pcr.ToHex(Pcr0), Pcr.ToHex(SHA384.HashData("1"u8)), Pcr.ToHex(SHA384.HashData("2"u8)), null, null);
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions().WithMeasurements(measurements));

        var result = new AttestationVerifier([nsm.Root]).Verify(nsm.Attestation(), new AttestationExpectations().ExpectPcrs(measurements));

        Assert.True(result.IsValid, string.Join("; ", result.Failures));
        Assert.Equal(measurements.PCR2, result.Pcrs[2]);
    }

    [Fact]
    public void Encoded_requests_get_encoded_responses_and_garbage_gets_an_error_response()
    {
        using var nsm = new SimulatedNsm();

        var random = (NsmGetRandomResponse)NsmCodec.DecodeResponse(nsm.Process(NsmCodec.EncodeRequest(NsmBareRequest.GetRandom)));
        var garbage = (NsmErrorResponse)NsmCodec.DecodeResponse(nsm.Process([0xFF, 0x00]));
        var tooLarge = (NsmErrorResponse)NsmCodec.DecodeResponse(nsm.Process(new byte[NsmCodec.MaxRequestSize + 1]));
        var hugeUserData = Assert.Throws<NitroEnclaveException>(() => nsm.Attestation(userData: new byte[600]));

        Assert.Equal(SimulatedNsm.RandomSize, random.Random.Length);
        Assert.Equal(NsmErrorCodes.InvalidArgument, garbage.Code);
        Assert.Equal(NsmErrorCodes.InputTooLarge, tooLarge.Code);
        Assert.Contains(NsmErrorCodes.InputTooLarge, hugeUserData.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_leaf_is_short_lived_and_renewed_when_it_runs_out()
    {
        var clock = new ManualClock(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var nsm = new SimulatedNsm(new SimulatedNsmOptions { TimeProvider = clock });
        var verifier = new AttestationVerifier([nsm.Root], clock);

        var first = AttestationDocument.Parse(nsm.Attestation());
        clock.Now += TimeSpan.FromHours(4);
        var second = AttestationDocument.Parse(nsm.Attestation());

        Assert.True(first.Certificate.NotAfter.ToUniversalTime() <= clock.Now.UtcDateTime);
        Assert.Contains(AttestationRules.CertificateExpired, verifier.Verify(first).FailedRules);
        Assert.True(verifier.Verify(second).IsValid);
        Assert.NotEqual(first.Certificate.RawData, second.Certificate.RawData);
    }

    [Fact]
    public void The_chain_persists_and_loads_back()
    {
        var directory = Directory.CreateTempSubdirectory("nsm-chain-");
        try
        {
            byte[] rootDer;
            using (var chain = SimulatedNsmChain.Create(intermediates: 3))
            {
                chain.Save(directory.FullName);
                rootDer = chain.Root.RawData;
            }

            using var loaded = SimulatedNsmChain.Load(directory.FullName);
            using var nsm = new SimulatedNsm(loaded);
            var document = AttestationDocument.Parse(nsm.Attestation());

            Assert.Equal(rootDer, loaded.Root.RawData);
            Assert.Equal(4, loaded.CaBundle.Count);
            Assert.True(new AttestationVerifier([X509Root(rootDer)]).Verify(document).IsValid);
            Assert.DoesNotContain(directory.GetFiles(), f => f.Name.EndsWith(".tmp", StringComparison.Ordinal));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory.FullName, "root.key")));
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_damaged_store_is_SimulatedNsmStoreInvalid()
    {
        var directory = Directory.CreateTempSubdirectory("nsm-chain-");
        try
        {
            using (var chain = SimulatedNsmChain.Create())
            {
                chain.Save(directory.FullName);
            }

            using (var other = SimulatedNsmChain.Create())
            {
                var elsewhere = Directory.CreateTempSubdirectory("nsm-other-");
                other.Save(elsewhere.FullName);
                File.Copy(Path.Combine(elsewhere.FullName, "intermediate-2.key"), Path.Combine(directory.FullName, "intermediate-2.key"), overwrite: true);
                elsewhere.Delete(recursive: true);
            }

            var wrongKey = Assert.Throws<NitroEnclaveException>(() => SimulatedNsmChain.Load(directory.FullName));
            var missing = Assert.Throws<NitroEnclaveException>(() => SimulatedNsmChain.Load(Path.Combine(directory.FullName, "absent")));

            Assert.Equal(AttestationErrors.SimulatedNsmStoreInvalid, wrongKey.ErrorId);
            Assert.Equal(AttestationErrors.SimulatedNsmStoreInvalid, missing.ErrorId);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 X509Root(byte[] der) =>
        System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(der);

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
