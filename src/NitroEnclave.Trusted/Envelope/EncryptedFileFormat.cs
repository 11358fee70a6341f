using System.Buffers.Binary;

namespace NitroEnclave.Envelope;

/// <summary>What an encrypted input is.</summary>
public enum EncryptedFileKind
{
    Unknown,

    /// <summary>An AWS Encryption SDK message (version 1 or 2 header with a known AES-GCM suite).</summary>
    EncryptionSdkMessage,

    /// <summary>The reference sample's ".encrypted" file: length, KMS ciphertext blob, Fernet token.</summary>
    LegacyFernet,
}

/// <summary>Tells the supported encrypted formats apart from their first bytes.</summary>
public static class EncryptedFileFormat
{
    /// <summary>How many leading bytes <see cref="Detect(ReadOnlySpan{byte})"/> needs at most.</summary>
    public const int PrefixLength = 4 + LegacyEncryptedFile.MaxBlobLength + 6;

    public static EncryptedFileKind Detect(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length >= 4)
        {
            var suite = AlgorithmSuite.TryGet(BinaryPrimitives.ReadUInt16BigEndian(prefix[2..]));
            if (prefix[0] == 1 && prefix[1] == 0x80 && suite is { MessageFormatVersion: 1 })
            {
                return EncryptedFileKind.EncryptionSdkMessage;
            }
        }

        if (prefix.Length >= 3 && prefix[0] == 2 && AlgorithmSuite.TryGet(BinaryPrimitives.ReadUInt16BigEndian(prefix[1..])) is { MessageFormatVersion: 2 })
        {
            return EncryptedFileKind.EncryptionSdkMessage;
        }

        if (prefix.Length >= 4)
        {
            var blobLength = BinaryPrimitives.ReadUInt32BigEndian(prefix);
            // A version 0x80 token with a timestamp below 2^36 starts with these six base64url characters.
            if (blobLength is > 0 and <= LegacyEncryptedFile.MaxBlobLength && prefix.Length >= 4 + (int)blobLength + 6
                && prefix.Slice(4 + (int)blobLength, 6).SequenceEqual("gAAAAA"u8))
            {
                return EncryptedFileKind.LegacyFernet;
            }
        }

        return EncryptedFileKind.Unknown;
    }

    /// <summary>Detects the format of a seekable stream and puts its position back.</summary>
    public static async Task<EncryptedFileKind> DetectAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            throw EnvelopeErrors.Argument(EnvelopeErrors.InvalidOption, "Format detection needs a seekable stream; pass the leading bytes instead.");
        }

        var start = stream.Position;
        var prefix = new byte[PrefixLength];
        var read = await stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        stream.Position = start;
        return Detect(prefix.AsSpan(0, read));
    }
}
