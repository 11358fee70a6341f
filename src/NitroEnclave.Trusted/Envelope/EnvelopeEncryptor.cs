using System.Buffers.Binary;
using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>What to encrypt with.</summary>
public sealed class EnvelopeEncryptOptions
{
    public const int DefaultFrameLength = 64 << 10;

    /// <summary>The KMS key (id, ARN, alias name or alias ARN) that protects the data key.</summary>
    public required string KeyId { get; init; }

    /// <summary>Non-secret key/value pairs bound to the message; keys may not start with "aws-crypto-".</summary>
    public IReadOnlyDictionary<string, string>? EncryptionContext { get; init; }

    /// <summary>0x0578 (default, with an ECDSA P-384 signature) or 0x0478 (no signature).</summary>
    public AlgorithmSuite Suite { get; init; } = AlgorithmSuite.Default;

    /// <summary>Plaintext bytes per frame, at least 1.</summary>
    public int FrameLength { get; init; } = DefaultFrameLength;
}

/// <summary>What an encryption produced.</summary>
public sealed class EnvelopeEncryptResult
{
    internal EnvelopeEncryptResult(AlgorithmSuite suite, string keyArn, byte[] messageId, IReadOnlyDictionary<string, string> context, long plaintextLength, long ciphertextLength)
    {
        Suite = suite;
        KeyArn = keyArn;
        MessageId = messageId;
        EncryptionContext = context;
        PlaintextLength = plaintextLength;
        CiphertextLength = ciphertextLength;
    }

    public AlgorithmSuite Suite { get; }

    public string KeyArn { get; }

    public byte[] MessageId { get; }

    /// <summary>The context stored in the header, including "aws-crypto-public-key" for signed suites.</summary>
    public IReadOnlyDictionary<string, string> EncryptionContext { get; }

    public long PlaintextLength { get; }

    public long CiphertextLength { get; }
}

/// <summary>
/// Writes AWS Encryption SDK messages (in the trusted code base: the enclave encrypts confidential results with it), format version 2 with a committing suite, framed, one encrypted data key,
/// streaming with memory bounded by two frames (client-apis/encrypt.md).
/// </summary>
public static class EnvelopeEncryptor
{
    private const uint FinalFrameMarker = 0xFFFFFFFF;
    private const int MessageIdLength = 32;

    public static async Task<EnvelopeEncryptResult> EncryptAsync(
        Stream plaintext,
        Stream output,
        IDataKeyGenerator provider,
        EnvelopeEncryptOptions options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(options);
        var suite = options.Suite ?? AlgorithmSuite.Default;
        if (!suite.IsCommitting)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.UnsupportedSuite, $"Encryption uses a committing suite (0x0578 or 0x0478), not {suite.IdHex}.");
        }

        if (options.FrameLength < 1)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.InvalidOption, $"The frame length must be at least 1 byte, not {options.FrameLength}.");
        }

        if (string.IsNullOrWhiteSpace(options.KeyId))
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.InvalidOption, "A KMS key id is required.");
        }

        var context = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in options.EncryptionContext ?? new Dictionary<string, string>())
        {
            if (key.StartsWith(EncryptionContextSerializer.ReservedPrefix, StringComparison.Ordinal))
            {
                throw EnvelopeErrors.Argument(EnvelopeErrors.ReservedContextKey, $"Encryption context keys starting with '{EncryptionContextSerializer.ReservedPrefix}' are reserved: '{key}'.");
            }

            context[key] = value ?? string.Empty;
        }

        // The signing key comes first: its public half is part of the context the data key is bound to.
        using var signer = suite.IsSigned ? ECDsa.Create(suite.SignatureCurve!.Value) : null;
        if (signer is not null)
        {
            context[EncryptionContextSerializer.PublicKeyName] = Convert.ToBase64String(EcPoint.Compress(signer.ExportParameters(false)));
        }

        var serializedContext = EncryptionContextSerializer.Serialize(context);
        using var dataKey = await provider.GenerateDataKeyAsync(options.KeyId, suite.KeyLength, context, cancellationToken).ConfigureAwait(false);
        var messageId = RandomNumberGenerator.GetBytes(MessageIdLength);
        using var keys = MessageKeys.Derive(suite, dataKey.Plaintext, messageId);
        dataKey.Dispose();

        var headerBody = EnvelopeHeader.SerializeV2Body(suite, messageId, serializedContext, dataKey.Encrypted, (uint)options.FrameLength, keys.CommitKey);
        var headerTag = new byte[AlgorithmSuite.TagLength];
        keys.Aes.Encrypt(stackalloc byte[AlgorithmSuite.IvLength], ReadOnlySpan<byte>.Empty, Span<byte>.Empty, headerTag, headerBody);

        using var hash = signer is null ? null : new BackgroundHash(suite.SignatureHash);
        long written = 0;
        async Task WriteAsync(ReadOnlyMemory<byte> bytes)
        {
            hash?.AppendData(bytes.Span);
            await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            written += bytes.Length;
        }

        await WriteAsync(headerBody).ConfigureAwait(false);
        await WriteAsync(headerTag).ConfigureAwait(false);

        var plaintextLength = await WriteFramesAsync(plaintext, options.FrameLength, keys, new BodyAad(messageId), WriteAsync, cancellationToken).ConfigureAwait(false);

        if (signer is not null)
        {
            var signature = signer.SignHash(hash!.GetHashAndReset(), DSASignatureFormat.Rfc3279DerSequence);
            var footer = new byte[2 + signature.Length];
            BinaryPrimitives.WriteUInt16BigEndian(footer, (ushort)signature.Length);
            signature.CopyTo(footer, 2);
            await output.WriteAsync(footer, cancellationToken).ConfigureAwait(false);
            written += footer.Length;
        }

        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new EnvelopeEncryptResult(suite, dataKey.KeyArn, messageId, context, plaintextLength, written);
    }

    /// <summary>
    /// Reads one frame ahead so that a plaintext whose length is a multiple of the frame length ends with a full final
    /// frame rather than an empty one (the spec's SHOULD).
    /// </summary>
    private static async Task<long> WriteFramesAsync(
        Stream plaintext, int frameLength, MessageKeys keys, BodyAad aad, Func<ReadOnlyMemory<byte>, Task> write, CancellationToken cancellationToken)
    {
        var current = new byte[frameLength];
        var next = new byte[frameLength];
        var frame = new byte[8 + AlgorithmSuite.IvLength + 4 + frameLength + AlgorithmSuite.TagLength];
        try
        {
            var currentLength = await plaintext.ReadAtLeastAsync(current, frameLength, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            long total = currentLength;
            uint sequence = 1;
            while (true)
            {
                var nextLength = currentLength == frameLength
                    ? await plaintext.ReadAtLeastAsync(next, frameLength, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)
                    : 0;
                var isFinal = nextLength == 0;
                if (sequence == FinalFrameMarker)
                {
                    throw EnvelopeErrors.Argument(EnvelopeErrors.MessageTooLarge, $"The plaintext needs more than {uint.MaxValue - 1} frames of {frameLength} bytes: use a larger frame length.");
                }

                var size = SealFrame(frame, current.AsSpan(0, currentLength), sequence, isFinal, keys, aad);
                await write(frame.AsMemory(0, size)).ConfigureAwait(false);
                if (isFinal)
                {
                    return total;
                }

                (current, next) = (next, current);
                currentLength = nextLength;
                total += nextLength;
                sequence++;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(current);
            CryptographicOperations.ZeroMemory(next);
        }
    }

    /// <summary>Serializes one regular or final frame into <paramref name="frame"/>; returns its length.</summary>
    private static int SealFrame(byte[] frame, ReadOnlySpan<byte> content, uint sequence, bool isFinal, MessageKeys keys, BodyAad aad)
    {
        var offset = 0;
        if (isFinal)
        {
            BinaryPrimitives.WriteUInt32BigEndian(frame, FinalFrameMarker);
            offset = 4;
        }

        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(offset), sequence);
        offset += 4;
        var iv = frame.AsSpan(offset, AlgorithmSuite.IvLength);
        MessageKeys.FrameIv(sequence, iv);
        offset += AlgorithmSuite.IvLength;
        if (isFinal)
        {
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(offset), (uint)content.Length);
            offset += 4;
        }

        var kind = isFinal ? BodyAad.FinalFrame : BodyAad.RegularFrame;
        keys.Aes.Encrypt(iv, content, frame.AsSpan(offset, content.Length), frame.AsSpan(offset + content.Length, AlgorithmSuite.TagLength), aad.For(kind, sequence, (ulong)content.Length));
        return offset + content.Length + AlgorithmSuite.TagLength;
    }
}
