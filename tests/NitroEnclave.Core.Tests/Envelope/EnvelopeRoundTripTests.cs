using System.Buffers.Binary;
using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

public sealed class EnvelopeRoundTripTests
{
    public static TheoryData<ushort, int, int> Shapes()
    {
        var data = new TheoryData<ushort, int, int>();
        foreach (var suite in new ushort[] { 0x0578, 0x0478 })
        {
            data.Add(suite, 0, 65536);              // empty plaintext: one empty final frame
            data.Add(suite, 1, 1);                  // one byte, one-byte frames
            data.Add(suite, 17, 1);                 // 1-byte frames: 17 frames
            data.Add(suite, 4096, 4096);            // exactly one frame
            data.Add(suite, 8192, 4096);            // exact multiple of the frame length
            data.Add(suite, 10_000, 4096);          // two regular frames and a partial final frame
            data.Add(suite, 200_000, 65536);        // default frame length
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Plaintext_survives_a_round_trip(ushort suiteId, int length, int frameLength)
    {
        var provider = new InMemoryKeyProvider();
        var plaintext = Bytes(length);

        var (message, result) = await EncryptAsync(provider, plaintext, AlgorithmSuite.Get(suiteId), frameLength);
        var decrypted = await DecryptAsync(message, provider);

        Assert.Equal(plaintext, decrypted);
        Assert.Equal(length, result.PlaintextLength);
        Assert.Equal(message.Length, result.CiphertextLength);
        Assert.Equal(suiteId, result.Suite.Id);
        Assert.Equal(InMemoryKeyProvider.DefaultArn, result.KeyArn);
        Assert.Equal(plaintext, await DecryptAsync(message, provider, new EnvelopeDecryptOptions { VerifyBeforeRelease = true }));
    }

    [Theory]
    [InlineData(0, 4096, 1)]
    [InlineData(4095, 4096, 1)]
    [InlineData(4096, 4096, 1)]
    [InlineData(4097, 4096, 2)]
    [InlineData(8192, 4096, 2)]
    [InlineData(5, 1, 5)]
    public async Task A_whole_number_of_frames_ends_with_a_full_final_frame(int length, int frameLength, int expectedFrames)
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Bytes(length), AlgorithmSuite.CommitKey, frameLength);

        var header = await EnvelopeDecryptor.ReadHeaderAsync(new MemoryStream(message), provider);
        var body = message.AsSpan(header.Length);
        var frames = 0;
        var final = -1L;
        while (!body.IsEmpty)
        {
            frames++;
            if (BinaryPrimitives.ReadUInt32BigEndian(body) == 0xFFFFFFFF)
            {
                Assert.Equal((uint)frames, BinaryPrimitives.ReadUInt32BigEndian(body[4..]));
                final = BinaryPrimitives.ReadUInt32BigEndian(body[20..]);
                body = body[(24 + (int)final + 16)..];
            }
            else
            {
                Assert.Equal((uint)frames, BinaryPrimitives.ReadUInt32BigEndian(body));
                Assert.Equal((uint)frames, BinaryPrimitives.ReadUInt32BigEndian(body[12..]));
                body = body[(16 + frameLength + 16)..];
            }
        }

        Assert.Equal(expectedFrames, frames);
        Assert.Equal(length - ((long)(expectedFrames - 1) * frameLength), final);
    }

    [Fact]
    public async Task The_header_follows_the_version_2_layout()
    {
        var provider = new InMemoryKeyProvider();
        var (message, result) = await EncryptAsync(provider, Bytes(10), AlgorithmSuite.Default, 4096);

        Assert.Equal(2, message[0]);
        Assert.Equal(0x0578, BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(1)));
        Assert.Equal(result.MessageId, message.AsSpan(3, 32).ToArray());
        var contextLength = BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(35));
        Assert.Equal(TestMessageWriter.SerializeContext(result.EncryptionContext), message.AsSpan(37, contextLength).ToArray());
        var offset = 37 + contextLength;
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(offset)));
        Assert.Equal("aws-kms"u8.ToArray(), message.AsSpan(offset + 4, 7).ToArray());
        Assert.Equal(InMemoryKeyProvider.DefaultArn, System.Text.Encoding.UTF8.GetString(message.AsSpan(offset + 13, BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(offset + 11)))));

        var header = await EnvelopeDecryptor.ReadHeaderAsync(new MemoryStream(message), provider);
        Assert.Equal(EnvelopeContentType.Framed, header.ContentType);
        Assert.Equal(4096u, header.FrameLength);
        Assert.Equal(2, header.Version);
        var edk = Assert.Single(header.EncryptedDataKeys);
        Assert.Equal("aws-kms", edk.ProviderId);
        Assert.Equal(InMemoryKeyProvider.DefaultArn, edk.ProviderInfoText);
    }

    [Fact]
    public async Task Signed_messages_carry_the_public_key_in_the_context_bound_to_the_data_key()
    {
        var provider = new InMemoryKeyProvider();
        var (_, signed) = await EncryptAsync(provider, Bytes(10), AlgorithmSuite.Default);
        var (_, unsigned) = await EncryptAsync(provider, Bytes(10), AlgorithmSuite.CommitKey);

        var publicKey = Convert.FromBase64String(signed.EncryptionContext[EncryptionContextSerializer.PublicKeyName]);
        Assert.Equal(49, publicKey.Length);
        Assert.True(publicKey[0] is 2 or 3);
        Assert.False(unsigned.EncryptionContext.ContainsKey(EncryptionContextSerializer.PublicKeyName));
        Assert.Equal("test", signed.EncryptionContext["purpose"]);
        Assert.Equal(unsigned.EncryptionContext, provider.LastGenerateContext);
    }

    [Fact]
    public async Task Each_message_gets_a_new_data_key_and_message_id()
    {
        var provider = new InMemoryKeyProvider();
        var plaintext = Bytes(100);
        var (first, a) = await EncryptAsync(provider, plaintext);
        var (second, b) = await EncryptAsync(provider, plaintext);

        Assert.NotEqual(a.MessageId, b.MessageId);
        Assert.NotEqual(first, second);
        Assert.Equal(2, provider.GenerateCalls);
    }

    [Fact]
    public async Task Reserved_context_keys_and_bad_options_are_refused()
    {
        var provider = new InMemoryKeyProvider();
        var reserved = await Assert.ThrowsAsync<NitroEnclaveException>(() => EncryptAsync(provider, [1], context: new Dictionary<string, string> { ["aws-crypto-public-key"] = "x" }));
        Assert.Equal(EnvelopeErrors.ReservedContextKey, reserved.ErrorId);

        var frame = await Assert.ThrowsAsync<NitroEnclaveException>(() => EncryptAsync(provider, [1], frameLength: 0));
        Assert.Equal(EnvelopeErrors.InvalidOption, frame.ErrorId);

        var suite = await Assert.ThrowsAsync<NitroEnclaveException>(() => EncryptAsync(provider, [1], AlgorithmSuite.Get(0x0378)));
        Assert.Equal(EnvelopeErrors.UnsupportedSuite, suite.ErrorId);

        var large = await Assert.ThrowsAsync<NitroEnclaveException>(() => EncryptAsync(provider, [1], context: new Dictionary<string, string> { ["big"] = new string('x', 70_000) }));
        Assert.Equal(EnvelopeErrors.ContextTooLarge, large.ErrorId);
        Assert.Equal(0, provider.GenerateCalls);
    }

    [Fact]
    public async Task The_expected_context_must_match()
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Bytes(10));

        var matching = await DecryptAsync(message, provider, new EnvelopeDecryptOptions { ExpectedEncryptionContext = new Dictionary<string, string> { ["purpose"] = "test" } });
        Assert.Equal(Bytes(10), matching);

        var (error, released) = await DecryptFailsAsync(message, provider, new EnvelopeDecryptOptions { ExpectedEncryptionContext = new Dictionary<string, string> { ["purpose"] = "other" } });
        Assert.Equal(EnvelopeErrors.ContextMismatch, error.ErrorId);
        Assert.Empty(released);
        var (missing, _) = await DecryptFailsAsync(message, provider, new EnvelopeDecryptOptions { ExpectedEncryptionContext = new Dictionary<string, string> { ["tenant"] = "a" } });
        Assert.Equal(EnvelopeErrors.ContextMismatch, missing.ErrorId);
        Assert.Equal(1, provider.DecryptCalls);
    }

    [Fact]
    public async Task Another_key_cannot_decrypt()
    {
        var (message, _) = await EncryptAsync(new InMemoryKeyProvider(), Bytes(10));

        var (error, released) = await DecryptFailsAsync(message, new InMemoryKeyProvider());

        Assert.Equal(EnvelopeErrors.KmsInvalidCiphertext, error.ErrorId);
        Assert.Empty(released);
    }

    [Fact]
    public async Task A_data_key_that_is_not_the_committed_one_fails_the_commitment_check()
    {
        var (message, _) = await EncryptAsync(new InMemoryKeyProvider(), Bytes(10));

        var (error, released) = await DecryptFailsAsync(message, new StaticKeyDecryptor(new byte[32]));

        Assert.Equal(EnvelopeErrors.CommitmentMismatch, error.ErrorId);
        Assert.Empty(released);
    }

    [Fact]
    public async Task Verify_before_release_reads_non_seekable_input_through_a_spool()
    {
        var provider = new InMemoryKeyProvider();
        var plaintext = Bytes(50_000);
        var (message, _) = await EncryptAsync(provider, plaintext, frameLength: 1000);
        var spoolDirectory = Directory.CreateTempSubdirectory("envelope-spool").FullName;
        try
        {
            using var output = new MemoryStream();
            var result = await EnvelopeDecryptor.DecryptAsync(new ForwardOnlyStream(new MemoryStream(message)), output, provider,
                new EnvelopeDecryptOptions { VerifyBeforeRelease = true, TempDirectory = spoolDirectory });

            Assert.Equal(plaintext, output.ToArray());
            Assert.Equal(plaintext.Length, result.PlaintextLength);
            Assert.Equal(1, provider.DecryptCalls);
            Assert.Empty(Directory.GetFiles(spoolDirectory));
        }
        finally
        {
            Directory.Delete(spoolDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task A_forward_only_input_decrypts_in_the_default_mode()
    {
        var provider = new InMemoryKeyProvider();
        var plaintext = Bytes(30_000);
        var (message, _) = await EncryptAsync(provider, plaintext, frameLength: 4096);

        using var output = new MemoryStream();
        await EnvelopeDecryptor.DecryptAsync(new ForwardOnlyStream(new MemoryStream(message)), output, provider);

        Assert.Equal(plaintext, output.ToArray());
    }

    [Fact]
    public async Task Data_keys_are_zeroed_after_encryption()
    {
        var provider = new CapturingProvider();
        await EncryptAsync(provider, Bytes(100));

        Assert.NotNull(provider.Handed);
        Assert.All(provider.Handed!, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Data_keys_are_zeroed_after_decryption_also_when_it_fails()
    {
        var inner = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(inner, Bytes(100), frameLength: 10);
        var capturing = new CapturingDecryptor(inner);

        await DecryptAsync(message, capturing);
        Assert.All(capturing.Handed!, b => Assert.Equal(0, b));

        message[^5] ^= 1;
        await DecryptFailsAsync(message, capturing);
        Assert.All(capturing.Handed!, b => Assert.Equal(0, b));
    }

    private sealed class CapturingProvider : IDataKeyProvider
    {
        private readonly InMemoryKeyProvider _inner = new();

        public byte[]? Handed { get; private set; }

        public async Task<GeneratedDataKey> GenerateDataKeyAsync(string keyId, int keyLength, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
        {
            var key = await _inner.GenerateDataKeyAsync(keyId, keyLength, encryptionContext, cancellationToken);
            Handed = key.Plaintext;
            return key;
        }

        public Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken) =>
            _inner.DecryptDataKeyAsync(encryptedDataKey, encryptionContext, cancellationToken);
    }

    private sealed class CapturingDecryptor(IDataKeyDecryptor inner) : IDataKeyDecryptor
    {
        public byte[]? Handed { get; private set; }

        public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
        {
            Handed = await inner.DecryptDataKeyAsync(encryptedDataKey, encryptionContext, cancellationToken);
            return Handed;
        }
    }
}
