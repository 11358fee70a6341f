using System.Buffers.Binary;
using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>Limits and policies for decrypting AWS Encryption SDK messages.</summary>
public sealed class EnvelopeDecryptOptions
{
    /// <summary>
    /// Entries the message's encryption context must contain with exactly these values (it may contain more);
    /// otherwise EnvelopeContextMismatch before any key is decrypted.
    /// </summary>
    public IReadOnlyDictionary<string, string>? ExpectedEncryptionContext { get; init; }

    /// <summary>
    /// Release no plaintext until the whole message (every tag, the final frame, the signature, the end of input) is
    /// verified. Costs a second pass over the ciphertext: a seekable input is read twice, any other input is first
    /// copied to a temporary file (ciphertext only; plaintext never touches the disk).
    /// </summary>
    public bool VerifyBeforeRelease { get; init; }

    /// <summary>Messages with more encrypted data keys are rejected before the keys are read.</summary>
    public int MaxEncryptedDataKeys { get; init; } = 16;

    /// <summary>Messages with a longer frame are rejected; the frame buffers are this large at most.</summary>
    public int MaxFrameLength { get; init; } = 16 << 20;

    /// <summary>Largest serialized encryption context accepted (the format's own limit is 65535).</summary>
    public int MaxEncryptionContextBytes { get; init; } = ushort.MaxValue;

    /// <summary>A non-framed body is authenticated as a whole, so it is held in memory: this bounds it.</summary>
    public long MaxNonFramedLength { get; init; } = 64 << 20;

    /// <summary>Where <see cref="VerifyBeforeRelease"/> spools a non-seekable input; the system temp folder by default.</summary>
    public string? TempDirectory { get; init; }

    internal void Validate()
    {
        if (MaxEncryptedDataKeys < 1 || MaxFrameLength < 1 || MaxEncryptionContextBytes < 0 || MaxNonFramedLength < 0)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.InvalidOption, "Decryption limits must be positive.");
        }
    }
}

/// <summary>What a successful decryption found.</summary>
public sealed class EnvelopeDecryptResult
{
    internal EnvelopeDecryptResult(EnvelopeHeader header, long plaintextLength)
    {
        Header = header;
        PlaintextLength = plaintextLength;
    }

    public EnvelopeHeader Header { get; }

    public AlgorithmSuite Suite => Header.Suite;

    public IReadOnlyDictionary<string, string> EncryptionContext => Header.EncryptionContext;

    public long PlaintextLength { get; }
}

/// <summary>
/// Decrypts AWS Encryption SDK messages (versions 1 and 2, framed and non-framed, every AES-GCM suite) in one streaming
/// pass with memory bounded by the frame length.
/// <para>
/// What is released when: nothing before the header tag (and, for version 2, the key commitment) is verified. In the
/// default mode each regular frame's plaintext is written to the output as soon as its own tag is verified, as the
/// official SDKs do; the final frame (or a non-framed body) is written only after the footer signature is verified
/// and the input is known to end there. So when a later frame, the signature or the end check fails, the output
/// already holds the authenticated plaintext of the regular frames before it, and the exception says the message is
/// not to be trusted: discard that output (the file cmdlets write to a temporary file and delete it). Authentic
/// frames come only from someone who held the data key, but for a signed message only the signature proves they came
/// from the signer. With <see cref="EnvelopeDecryptOptions.VerifyBeforeRelease"/> nothing is written until the whole
/// message is verified.
/// </para>
/// </summary>
public static class EnvelopeDecryptor
{
    private const uint FinalFrameMarker = 0xFFFFFFFF;
    private const ulong MaxNonFramedContent = (1UL << 36) - 32;
    private const int MaxSignatureLength = 1024;

    public static async Task<EnvelopeDecryptResult> DecryptAsync(
        Stream input,
        Stream output,
        IDataKeyDecryptor decryptor,
        EnvelopeDecryptOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(decryptor);
        options ??= new EnvelopeDecryptOptions();
        options.Validate();

        byte[]? dataKey = null;
        FileStream? spool = null;
        try
        {
            async Task<byte[]> ObtainDataKey(EnvelopeHeader header) =>
                dataKey ??= await DecryptDataKeyAsync(header, decryptor, cancellationToken).ConfigureAwait(false);

            if (!options.VerifyBeforeRelease)
            {
                return await ProcessAsync(input, output, ObtainDataKey, options, cancellationToken).ConfigureAwait(false);
            }

            var source = input;
            if (!input.CanSeek)
            {
                spool = CreateSpool(options.TempDirectory);
                await input.CopyToAsync(spool, cancellationToken).ConfigureAwait(false);
                spool.Position = 0;
                source = spool;
            }

            var start = source.Position;
            await ProcessAsync(source, null, ObtainDataKey, options, cancellationToken).ConfigureAwait(false);
            source.Position = start;
            return await ProcessAsync(source, output, ObtainDataKey, options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (dataKey is not null)
            {
                CryptographicOperations.ZeroMemory(dataKey);
            }

            if (spool is not null)
            {
                await spool.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads and authenticates only the header (no body): for inspecting a message's suite, context and keys.</summary>
    public static async Task<EnvelopeHeader> ReadHeaderAsync(Stream input, IDataKeyDecryptor decryptor, EnvelopeDecryptOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(decryptor);
        options ??= new EnvelopeDecryptOptions();
        options.Validate();
        var header = await EnvelopeHeader.ReadAsync(new MessageInput(input), options, cancellationToken).ConfigureAwait(false);
        CheckContext(header, options);
        var dataKey = await DecryptDataKeyAsync(header, decryptor, cancellationToken).ConfigureAwait(false);
        try
        {
            using var keys = Authenticate(header, dataKey);
            return header;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    private static async Task<EnvelopeDecryptResult> ProcessAsync(
        Stream source,
        Stream? output,
        Func<EnvelopeHeader, Task<byte[]>> obtainDataKey,
        EnvelopeDecryptOptions options,
        CancellationToken cancellationToken)
    {
        var input = new MessageInput(source);
        var header = await EnvelopeHeader.ReadAsync(input, options, cancellationToken).ConfigureAwait(false);
        CheckContext(header, options);
        using var verifier = SignatureVerifier(header);
        var dataKey = await obtainDataKey(header).ConfigureAwait(false);
        using var keys = Authenticate(header, dataKey);
        using var hash = verifier is null ? null : new BackgroundHash(header.Suite.SignatureHash);
        hash?.AppendData(header.Body);
        hash?.AppendData(header.Authentication);
        input.Hash = hash;

        var aad = new BodyAad(header.MessageId);
        byte[] plaintext = [];
        try
        {
            long released;
            int heldLength;
            if (header.ContentType == EnvelopeContentType.Framed)
            {
                plaintext = new byte[header.FrameLength];
                (released, heldLength) = await ReadFramesAsync(input, output, header, keys, aad, plaintext, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                (plaintext, heldLength) = await ReadNonFramedAsync(input, header, keys, aad, options, cancellationToken).ConfigureAwait(false);
                released = 0;
            }

            input.Hash = null;
            if (verifier is not null)
            {
                await VerifyFooterAsync(input, verifier, hash!, header.Suite, cancellationToken).ConfigureAwait(false);
            }

            if (!await input.AtEndAsync(cancellationToken).ConfigureAwait(false))
            {
                throw EnvelopeErrors.Invalid(EnvelopeErrors.TrailingData, $"Data follows the end of the message at byte {input.Position}.");
            }

            if (output is not null)
            {
                await output.WriteAsync(plaintext.AsMemory(0, heldLength), cancellationToken).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            return new EnvelopeDecryptResult(header, released + heldLength);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Writes every authenticated regular frame; returns the bytes written and the length of the held final frame.</summary>
    private static async Task<(long Released, int Held)> ReadFramesAsync(
        MessageInput input, Stream? output, EnvelopeHeader header, MessageKeys keys, BodyAad aad, byte[] plaintext, CancellationToken cancellationToken)
    {
        var frameLength = (int)header.FrameLength;
        var frame = new byte[AlgorithmSuite.IvLength + frameLength + AlgorithmSuite.TagLength];
        var small = new byte[20];
        uint expected = 1;
        long released = 0;
        while (true)
        {
            await input.ReadExactlyAsync(small.AsMemory(0, 4), cancellationToken).ConfigureAwait(false);
            var marker = BinaryPrimitives.ReadUInt32BigEndian(small);
            if (marker == FinalFrameMarker)
            {
                await input.ReadExactlyAsync(small.AsMemory(0, 20), cancellationToken).ConfigureAwait(false);
                CheckSequence(BinaryPrimitives.ReadUInt32BigEndian(small), expected);
                var contentLength = BinaryPrimitives.ReadUInt32BigEndian(small.AsSpan(16));
                if (contentLength > header.FrameLength)
                {
                    throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The final frame holds {contentLength} bytes, more than the frame length {header.FrameLength}.");
                }

                var length = (int)contentLength;
                await input.ReadExactlyAsync(frame.AsMemory(0, length + AlgorithmSuite.TagLength), cancellationToken).ConfigureAwait(false);
                Open(keys, small.AsSpan(4, AlgorithmSuite.IvLength), frame.AsSpan(0, length), frame.AsSpan(length, AlgorithmSuite.TagLength), plaintext.AsSpan(0, length),
                    aad.For(BodyAad.FinalFrame, expected, contentLength), expected);
                return (released, length);
            }

            CheckSequence(marker, expected);
            if (expected == FinalFrameMarker - 1)
            {
                throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, "The message has more frames than the format allows.");
            }

            await input.ReadExactlyAsync(frame, cancellationToken).ConfigureAwait(false);
            Open(keys, frame.AsSpan(0, AlgorithmSuite.IvLength), frame.AsSpan(AlgorithmSuite.IvLength, frameLength), frame.AsSpan(AlgorithmSuite.IvLength + frameLength),
                plaintext, aad.For(BodyAad.RegularFrame, expected, header.FrameLength), expected);
            if (output is not null)
            {
                await output.WriteAsync(plaintext, cancellationToken).ConfigureAwait(false);
            }

            released += frameLength;
            expected++;
        }
    }

    private static async Task<(byte[] Plaintext, int Length)> ReadNonFramedAsync(
        MessageInput input, EnvelopeHeader header, MessageKeys keys, BodyAad aad, EnvelopeDecryptOptions options, CancellationToken cancellationToken)
    {
        var prefix = new byte[AlgorithmSuite.IvLength + 8];
        await input.ReadExactlyAsync(prefix, cancellationToken).ConfigureAwait(false);
        var contentLength = BinaryPrimitives.ReadUInt64BigEndian(prefix.AsSpan(AlgorithmSuite.IvLength));
        if (contentLength > MaxNonFramedContent)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The non-framed body declares {contentLength} bytes, more than the format's 2^36 - 32.");
        }

        if (contentLength > (ulong)options.MaxNonFramedLength || contentLength > int.MaxValue - AlgorithmSuite.TagLength)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.LimitExceeded, $"The non-framed body is {contentLength} bytes, the limit is {options.MaxNonFramedLength}.");
        }

        var length = (int)contentLength;
        var body = new byte[length + AlgorithmSuite.TagLength];
        await input.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        var plaintext = new byte[length];
        Open(keys, prefix.AsSpan(0, AlgorithmSuite.IvLength), body.AsSpan(0, length), body.AsSpan(length), plaintext, aad.For(BodyAad.SingleBlock, 1, contentLength), 1);
        return (plaintext, length);
    }

    private static async Task VerifyFooterAsync(MessageInput input, ECDsa verifier, BackgroundHash hash, AlgorithmSuite suite, CancellationToken cancellationToken)
    {
        var lengthField = new byte[2];
        await input.ReadExactlyAsync(lengthField, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt16BigEndian(lengthField);
        if (length is 0 or > MaxSignatureLength)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The footer declares a {length}-byte signature.");
        }

        var signature = new byte[length];
        await input.ReadExactlyAsync(signature, cancellationToken).ConfigureAwait(false);
        var digest = hash.GetHashAndReset();
        bool valid;
        try
        {
            valid = verifier.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            valid = false;
        }

        if (!valid)
        {
            throw EnvelopeErrors.Security(EnvelopeErrors.SignatureInvalid, $"The message signature ({suite.Name}) does not verify: the message was altered or not made by the holder of its signing key.");
        }
    }

    private static void Open(MessageKeys keys, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad, uint sequence)
    {
        try
        {
            keys.Aes.Decrypt(iv, ciphertext, tag, plaintext, aad);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw EnvelopeErrors.Security(EnvelopeErrors.FrameAuthFailed, $"Frame {sequence} does not authenticate: the message was altered or belongs to another key.");
        }
    }

    private static void CheckSequence(uint actual, uint expected)
    {
        if (actual != expected)
        {
            throw EnvelopeErrors.Security(EnvelopeErrors.FrameOutOfOrder, $"Frame {expected} was expected but frame {actual} came: frames were removed, repeated or reordered.");
        }
    }

    /// <summary>Derives the message keys, checks the key commitment and the header tag.</summary>
    private static MessageKeys Authenticate(EnvelopeHeader header, byte[] dataKey)
    {
        var keys = MessageKeys.Derive(header.Suite, dataKey, header.MessageId);
        try
        {
            if (header.Suite.IsCommitting && !CryptographicOperations.FixedTimeEquals(keys.CommitKey, header.CommitKey))
            {
                throw EnvelopeErrors.Security(EnvelopeErrors.CommitmentMismatch, "The data key does not match the key commitment in the header: the message is not what its key was made for.");
            }

            try
            {
                keys.Aes.Decrypt(header.HeaderIv, [], header.Tag, [], header.Body);
            }
            catch (AuthenticationTagMismatchException)
            {
                throw EnvelopeErrors.Security(EnvelopeErrors.HeaderAuthFailed, "The message header does not authenticate: it was altered or belongs to another key.");
            }

            return keys;
        }
        catch
        {
            keys.Dispose();
            throw;
        }
    }

    private static void CheckContext(EnvelopeHeader header, EnvelopeDecryptOptions options)
    {
        if (options.ExpectedEncryptionContext is null)
        {
            return;
        }

        foreach (var (key, value) in options.ExpectedEncryptionContext)
        {
            if (!header.EncryptionContext.TryGetValue(key, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
            {
                throw EnvelopeErrors.Security(EnvelopeErrors.ContextMismatch, $"The message's encryption context does not have the expected value for '{key}'.");
            }
        }
    }

    private static ECDsa? SignatureVerifier(EnvelopeHeader header)
    {
        var hasKey = header.EncryptionContext.TryGetValue(EncryptionContextSerializer.PublicKeyName, out var encoded);
        if (!header.Suite.IsSigned)
        {
            return hasKey
                ? throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The unsigned suite {header.Suite.IdHex} carries a signature key in its encryption context.")
                : null;
        }

        if (!hasKey)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The signed suite {header.Suite.IdHex} has no '{EncryptionContextSerializer.PublicKeyName}' in its encryption context.");
        }

        byte[] point;
        try
        {
            point = Convert.FromBase64String(encoded!);
        }
        catch (FormatException)
        {
            throw EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, "The signature verification key in the encryption context is not base64.");
        }

        return EcPoint.Decompress(point, header.Suite);
    }

    private static async Task<byte[]> DecryptDataKeyAsync(EnvelopeHeader header, IDataKeyDecryptor decryptor, CancellationToken cancellationToken)
    {
        var failures = new List<NitroEnclaveException>();
        foreach (var edk in header.EncryptedDataKeys)
        {
            try
            {
                var key = await decryptor.DecryptDataKeyAsync(edk, header.EncryptionContext, cancellationToken).ConfigureAwait(false);
                if (key.Length == header.Suite.KeyLength)
                {
                    return key;
                }

                CryptographicOperations.ZeroMemory(key);
                failures.Add(EnvelopeErrors.Invalid(EnvelopeErrors.DataKeyInvalid, $"The key provider returned a {key.Length}-byte data key; suite {header.Suite.IdHex} needs {header.Suite.KeyLength}."));
            }
            catch (NitroEnclaveException exception)
            {
                failures.Add(exception);
            }
        }

        if (failures.Count == 1)
        {
            throw failures[0];
        }

        var reasons = string.Join(", ", failures.Select(f => f.ErrorId).Distinct(StringComparer.Ordinal));
        throw new NitroEnclaveException(EnvelopeErrors.NoDecryptableKey, failures.TrueForAll(f => f.Kind == ErrorKind.PermissionDenied) ? ErrorKind.PermissionDenied : ErrorKind.InvalidData,
            $"None of the message's {failures.Count} encrypted data keys could be decrypted ({reasons}).", new AggregateException(failures));
    }

    private static FileStream CreateSpool(string? directory)
    {
        var path = Path.Combine(directory ?? Path.GetTempPath(), $"nitroenclave-{Guid.NewGuid():N}.spool");
        return new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
    }
}
