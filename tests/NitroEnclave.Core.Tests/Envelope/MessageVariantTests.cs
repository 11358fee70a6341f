using System.Security.Cryptography;
using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

/// <summary>Version 1, non-framed and empty-final-frame messages from the independent test writer, for every suite.</summary>
public sealed class MessageVariantTests
{
    public static TheoryData<ushort, int, int> Variants()
    {
        var data = new TheoryData<ushort, int, int>();
        foreach (var suite in AlgorithmSuite.All)
        {
            data.Add(suite.Id, 1000, 0);      // non-framed
            data.Add(suite.Id, 0, 0);         // non-framed, empty
            data.Add(suite.Id, 1000, 256);    // framed
            data.Add(suite.Id, 0, 4096);      // framed, empty
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Every_suite_decrypts_framed_and_non_framed(ushort suiteId, int length, int frameLength)
    {
        var provider = new InMemoryKeyProvider();
        var suite = AlgorithmSuite.Get(suiteId);
        var dataKey = RandomNumberGenerator.GetBytes(suite.KeyLength);
        var plaintext = Bytes(length);
        var message = TestMessageWriter.Write(suiteId, dataKey, Context, c => provider.Wrap(dataKey, c), plaintext, frameLength);

        using var output = new MemoryStream();
        var result = await EnvelopeDecryptor.DecryptAsync(new MemoryStream(message), output, provider);

        Assert.Equal(plaintext, output.ToArray());
        Assert.Equal(suite.MessageFormatVersion, result.Header.Version);
        Assert.Equal(frameLength == 0 ? EnvelopeContentType.NonFramed : EnvelopeContentType.Framed, result.Header.ContentType);
        Assert.Equal("test", result.EncryptionContext["purpose"]);
        Assert.Equal(plaintext, await DecryptAsync(message, provider, new EnvelopeDecryptOptions { VerifyBeforeRelease = true }));
    }

    [Theory]
    [InlineData((ushort)0x0578)]
    [InlineData((ushort)0x0178)]
    public async Task An_empty_final_frame_after_whole_frames_is_accepted(ushort suiteId)
    {
        var provider = new InMemoryKeyProvider();
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var plaintext = Bytes(512);
        var message = TestMessageWriter.Write(suiteId, dataKey, Context, c => provider.Wrap(dataKey, c), plaintext, 256, emptyFinalFrame: true);

        Assert.Equal(plaintext, await DecryptAsync(message, provider));
    }

    [Theory]
    [InlineData((ushort)0x0378, 0)]
    [InlineData((ushort)0x0378, 64)]
    [InlineData((ushort)0x0214, 0)]
    [InlineData((ushort)0x0014, 64)]
    public async Task Tampering_with_version_1_messages_is_detected(ushort suiteId, int frameLength)
    {
        var provider = new InMemoryKeyProvider();
        var suite = AlgorithmSuite.Get(suiteId);
        var dataKey = RandomNumberGenerator.GetBytes(suite.KeyLength);
        var message = TestMessageWriter.Write(suiteId, dataKey, Context, c => provider.Wrap(dataKey, c), Bytes(200), frameLength);
        var staticKey = new StaticKeyDecryptor(dataKey);

        for (var i = 0; i < message.Length; i++)
        {
            var tampered = (byte[])message.Clone();
            tampered[i] ^= 0x10;
            var (error, _) = await DecryptFailsAsync(tampered, staticKey, new EnvelopeDecryptOptions { VerifyBeforeRelease = true });
            Assert.NotNull(error.ErrorId);
        }

        for (var length = 0; length < message.Length; length++)
        {
            var (error, _) = await DecryptFailsAsync(message[..length], staticKey);
            Assert.Equal(EnvelopeErrors.Truncated, error.ErrorId);
        }
    }

    [Fact]
    public async Task A_non_framed_body_beyond_the_limit_is_refused()
    {
        var provider = new InMemoryKeyProvider();
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var message = TestMessageWriter.Write(0x0178, dataKey, Context, c => provider.Wrap(dataKey, c), Bytes(5000), 0);

        var (error, _) = await DecryptFailsAsync(message, provider, new EnvelopeDecryptOptions { MaxNonFramedLength = 4096 });

        Assert.Equal(EnvelopeErrors.LimitExceeded, error.ErrorId);
    }

    [Fact]
    public async Task A_signed_suite_without_its_public_key_or_an_unsigned_one_with_it_is_malformed()
    {
        var provider = new InMemoryKeyProvider();
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var unsigned = TestMessageWriter.Write(0x0178, dataKey, new Dictionary<string, string> { ["aws-crypto-public-key"] = "AAAA" }, c => provider.Wrap(dataKey, c), Bytes(10), 64);
        var (error, _) = await DecryptFailsAsync(unsigned, provider);
        Assert.Equal(EnvelopeErrors.Malformed, error.ErrorId);

        var signedButNoKey = TestMessageWriter.Write(0x0178, dataKey, Context, c => provider.Wrap(dataKey, c), Bytes(10), 64);
        signedButNoKey[3] = 0x78;
        signedButNoKey[2] = 0x03;
        var (missing, _) = await DecryptFailsAsync(signedButNoKey, provider);
        Assert.Equal(EnvelopeErrors.Malformed, missing.ErrorId);
    }

    [Fact]
    public async Task A_data_key_wrapped_for_another_master_key_is_refused()
    {
        var provider = new InMemoryKeyProvider();
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var message = TestMessageWriter.Write(0x0478, dataKey, Context, c => new InMemoryKeyProvider().Wrap(dataKey, c), Bytes(10), 64);

        var (error, _) = await DecryptFailsAsync(message, provider);

        Assert.Equal(EnvelopeErrors.KmsInvalidCiphertext, error.ErrorId);
    }
}
