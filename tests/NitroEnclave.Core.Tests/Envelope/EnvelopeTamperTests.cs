using System.Buffers.Binary;
using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

/// <summary>Every alteration of a message is detected with a typed error, and what gets released is as documented.</summary>
public sealed class EnvelopeTamperTests
{
    private const int FrameLength = 16;
    private static readonly byte[] Plaintext = Bytes(40);

    [Theory]
    [InlineData((ushort)0x0578)]
    [InlineData((ushort)0x0478)]
    public async Task Flipping_any_bit_of_the_message_is_detected(ushort suiteId)
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Get(suiteId), FrameLength);
        var headerLength = await HeaderLengthAsync(message, provider);

        for (var i = 0; i < message.Length; i++)
        {
            foreach (var bit in new[] { 0x01, 0x80 })
            {
                var tampered = (byte[])message.Clone();
                tampered[i] ^= (byte)bit;

                var (error, released) = await DecryptFailsAsync(tampered, provider);
                Assert.StartsWith(error.ErrorId.StartsWith("Kms", StringComparison.Ordinal) ? "Kms" : "Envelope", error.ErrorId);
                if (i < headerLength)
                {
                    Assert.Empty(released);
                }

                var (_, verifiedFirst) = await DecryptFailsAsync(tampered, provider, new EnvelopeDecryptOptions { VerifyBeforeRelease = true });
                Assert.Empty(verifiedFirst);
            }
        }
    }

    [Fact]
    public async Task Each_header_field_reports_its_own_failure()
    {
        var provider = new InMemoryKeyProvider();
        var (message, result) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Default, FrameLength);
        var contextLength = BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(35));
        var headerLength = await HeaderLengthAsync(message, provider);
        var frameLengthOffset = headerLength - 16 - 32 - 4;
        var staticKey = new StaticKeyDecryptor(provider.LastDataKey!);

        await ExpectAsync(EnvelopeErrors.UnsupportedVersion, message, provider, m => m[0] = 3);
        await ExpectAsync(EnvelopeErrors.UnsupportedSuite, message, provider, m => m[2] = 0x79);
        await ExpectAsync(EnvelopeErrors.UnsupportedSuite, message, provider, m => m[1] = 0x03); // 0x0378 is a version 1 suite
        await ExpectAsync(EnvelopeErrors.UnsupportedSuite, message, provider, m => m[1] = 0x09);
        await ExpectAsync(EnvelopeErrors.CommitmentMismatch, message, provider, m => m[10] ^= 1); // message id
        await ExpectAsync(EnvelopeErrors.KmsInvalidCiphertext, message, provider, m => m[37 + contextLength - 1] ^= 1); // context value: KMS refuses
        await ExpectAsync(EnvelopeErrors.HeaderAuthFailed, message, staticKey, m => m[37 + contextLength - 1] ^= 1); // context value, key obtained anyway
        await ExpectAsync(EnvelopeErrors.Malformed, message, provider, m => m[frameLengthOffset - 1] = 7); // content type
        await ExpectAsync(EnvelopeErrors.HeaderAuthFailed, message, staticKey, m => m[frameLengthOffset + 3] ^= 1); // frame length
        await ExpectAsync(EnvelopeErrors.CommitmentMismatch, message, staticKey, m => m[headerLength - 20] ^= 1); // commit key
        await ExpectAsync(EnvelopeErrors.HeaderAuthFailed, message, staticKey, m => m[headerLength - 1] ^= 1); // header tag
        Assert.True(result.EncryptionContext.Count > 0);
    }

    [Fact]
    public async Task Frames_that_are_altered_swapped_dropped_or_repeated_are_rejected()
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.CommitKey, FrameLength);
        var headerLength = await HeaderLengthAsync(message, provider);
        const int regular = 4 + 12 + FrameLength + 16;
        var header = message[..headerLength];
        var first = message[headerLength..(headerLength + regular)];
        var second = message[(headerLength + regular)..(headerLength + (2 * regular))];
        var final = message[(headerLength + (2 * regular))..];

        var (altered, alteredReleased) = await DecryptFailsAsync([.. header, .. first, .. Flip(second, 20), .. final], provider);
        Assert.Equal(EnvelopeErrors.FrameAuthFailed, altered.ErrorId);
        Assert.Equal(Plaintext[..FrameLength], alteredReleased);

        var (swapped, swappedReleased) = await DecryptFailsAsync([.. header, .. second, .. first, .. final], provider);
        Assert.Equal(EnvelopeErrors.FrameOutOfOrder, swapped.ErrorId);
        Assert.Empty(swappedReleased);

        var (dropped, _) = await DecryptFailsAsync([.. header, .. first, .. final], provider);
        Assert.Equal(EnvelopeErrors.FrameOutOfOrder, dropped.ErrorId);

        var (repeated, _) = await DecryptFailsAsync([.. header, .. first, .. first, .. second, .. final], provider);
        Assert.Equal(EnvelopeErrors.FrameOutOfOrder, repeated.ErrorId);

        var (noFinal, noFinalReleased) = await DecryptFailsAsync([.. header, .. first, .. second], provider);
        Assert.Equal(EnvelopeErrors.Truncated, noFinal.ErrorId);
        Assert.Equal(Plaintext[..(2 * FrameLength)], noFinalReleased);

        // Renumbering a frame changes its authenticated data, so it no longer authenticates.
        var renumbered = (byte[])second.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(renumbered, 1);
        var (renumber, _) = await DecryptFailsAsync([.. header, .. renumbered, .. first, .. final], provider);
        Assert.Equal(EnvelopeErrors.FrameAuthFailed, renumber.ErrorId);

        // A regular frame relabelled as final fails too (different AAD content string).
        var (promoted, _) = await DecryptFailsAsync([.. header, .. first, .. second, .. first], provider);
        Assert.Equal(EnvelopeErrors.FrameOutOfOrder, promoted.ErrorId);
    }

    [Fact]
    public async Task A_bad_signature_releases_only_the_regular_frames_or_nothing_when_verifying_first()
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Default, FrameLength);
        var tampered = Flip(message, message.Length - 10);

        var (error, released) = await DecryptFailsAsync(tampered, provider);
        Assert.Equal(EnvelopeErrors.SignatureInvalid, error.ErrorId);
        Assert.Equal(ErrorKind.SecurityError, error.Kind);
        Assert.Equal(Plaintext[..(2 * FrameLength)], released);

        var (strict, strictReleased) = await DecryptFailsAsync(tampered, provider, new EnvelopeDecryptOptions { VerifyBeforeRelease = true });
        Assert.Equal(EnvelopeErrors.SignatureInvalid, strict.ErrorId);
        Assert.Empty(strictReleased);
    }

    [Fact]
    public async Task A_signature_from_another_signer_is_rejected()
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Default, FrameLength);
        var (other, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Default, FrameLength);
        var footer = other[^(2 + FooterSignatureLength(other))..];
        var ownFooterLength = 2 + FooterSignatureLength(message);

        var (error, _) = await DecryptFailsAsync([.. message[..^ownFooterLength], .. footer], provider);

        Assert.Equal(EnvelopeErrors.SignatureInvalid, error.ErrorId);
    }

    [Theory]
    [InlineData((ushort)0x0578)]
    [InlineData((ushort)0x0478)]
    public async Task Every_truncation_is_reported_as_truncated(ushort suiteId)
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Get(suiteId), FrameLength);

        for (var length = 0; length < message.Length; length++)
        {
            var (error, _) = await DecryptFailsAsync(message[..length], provider);
            Assert.Equal(EnvelopeErrors.Truncated, error.ErrorId);
        }
    }

    [Theory]
    [InlineData((ushort)0x0578)]
    [InlineData((ushort)0x0478)]
    public async Task Trailing_data_is_rejected_before_the_final_frame_is_released(ushort suiteId)
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.Get(suiteId), FrameLength);

        var (error, released) = await DecryptFailsAsync([.. message, 0], provider);

        Assert.Equal(EnvelopeErrors.TrailingData, error.ErrorId);
        Assert.Equal(Plaintext[..(2 * FrameLength)], released);
        var (twoMessages, _) = await DecryptFailsAsync([.. message, .. message], provider);
        Assert.Equal(EnvelopeErrors.TrailingData, twoMessages.ErrorId);
    }

    [Fact]
    public async Task Hostile_headers_are_refused_by_the_limits_before_allocation()
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext, AlgorithmSuite.CommitKey, 4096);

        var (frames, _) = await DecryptFailsAsync(message, provider, new EnvelopeDecryptOptions { MaxFrameLength = 1024 });
        Assert.Equal(EnvelopeErrors.LimitExceeded, frames.ErrorId);

        var (context, _) = await DecryptFailsAsync(message, provider, new EnvelopeDecryptOptions { MaxEncryptionContextBytes = 8 });
        Assert.Equal(EnvelopeErrors.LimitExceeded, context.ErrorId);

        var contextLength = BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(35));
        var manyKeys = (byte[])message.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(manyKeys.AsSpan(37 + contextLength), 60_000);
        var (edks, _) = await DecryptFailsAsync(manyKeys, provider);
        Assert.Equal(EnvelopeErrors.LimitExceeded, edks.ErrorId);
        Assert.Equal(0, provider.DecryptCalls);
    }

    [Fact]
    public async Task Base64_text_and_garbage_are_not_messages()
    {
        var provider = new InMemoryKeyProvider();
        var (message, _) = await EncryptAsync(provider, Plaintext);

        var (base64, _) = await DecryptFailsAsync(System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(message)), provider);
        Assert.Equal(EnvelopeErrors.UnsupportedVersion, base64.ErrorId);
        Assert.Contains("base64", base64.Message, StringComparison.Ordinal);

        var (empty, _) = await DecryptFailsAsync([], provider);
        Assert.Equal(EnvelopeErrors.Truncated, empty.ErrorId);
    }

    private static async Task ExpectAsync(string errorId, byte[] message, IDataKeyDecryptor decryptor, Action<byte[]> tamper)
    {
        var copy = (byte[])message.Clone();
        tamper(copy);
        var (error, released) = await DecryptFailsAsync(copy, decryptor);
        Assert.Equal(errorId, error.ErrorId);
        Assert.Empty(released);
    }

    private static async Task<int> HeaderLengthAsync(byte[] message, IDataKeyDecryptor decryptor)
    {
        var header = await EnvelopeDecryptor.ReadHeaderAsync(new MemoryStream(message), decryptor);
        return header.Length;
    }

    private static int FooterSignatureLength(byte[] message)
    {
        // DER ECDSA P-384 signatures are 102 to 104 bytes; find the length field that spans exactly to the end.
        for (var length = 96; length <= 110; length++)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(message.Length - length - 2)) == length)
            {
                return length;
            }
        }

        throw new InvalidOperationException("no footer");
    }

    private static byte[] Flip(byte[] data, int index)
    {
        var copy = (byte[])data.Clone();
        copy[index] ^= 0x40;
        return copy;
    }
}
