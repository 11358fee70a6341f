using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace NitroEnclave.Envelope;

/// <summary>What a legacy file held.</summary>
public sealed class LegacyDecryptResult
{
    internal LegacyDecryptResult(long plaintextLength, DateTimeOffset? timestamp)
    {
        PlaintextLength = plaintextLength;
        Timestamp = timestamp;
    }

    public long PlaintextLength { get; }

    /// <summary>When the Fernet token was made.</summary>
    public DateTimeOffset? Timestamp { get; }
}

/// <summary>
/// Reads the reference sample's ".encrypted" files, so its users can move to the standard format: u32 big-endian length
/// of the KMS CiphertextBlob, the blob (an AES-256 data key from GenerateDataKey, no encryption context), then a
/// Fernet token whose key is that data key. A Fernet token is authenticated as a whole before decryption, so the
/// token is held in memory, bounded by <c>maxTokenLength</c>.
/// </summary>
public static class LegacyEncryptedFile
{
    /// <summary>KMS ciphertext blobs are at most 6144 bytes.</summary>
    public const int MaxBlobLength = 6144;

    public const int DefaultMaxTokenLength = 256 << 20;

    public static async Task<LegacyDecryptResult> DecryptAsync(
        Stream input, Stream output, IDataKeyDecryptor decryptor, int maxTokenLength = DefaultMaxTokenLength, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(decryptor);
        var lengthField = new byte[4];
        if (await input.ReadAtLeastAsync(lengthField, 4, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < 4)
        {
            throw Malformed("it ends inside the 4-byte key length");
        }

        var blobLength = BinaryPrimitives.ReadUInt32BigEndian(lengthField);
        if (blobLength is 0 or > MaxBlobLength)
        {
            throw Malformed($"its encrypted key length {blobLength} is not that of a KMS ciphertext (1 to {MaxBlobLength} bytes)");
        }

        var blob = new byte[blobLength];
        if (await input.ReadAtLeastAsync(blob, blob.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < blob.Length)
        {
            throw Malformed("it ends inside the encrypted key");
        }

        var token = await ReadTokenAsync(input, maxTokenLength, cancellationToken).ConfigureAwait(false);
        var key = await decryptor.DecryptDataKeyAsync(new EncryptedDataKey(KmsKeyring.ProviderId, [], blob), new Dictionary<string, string>(), cancellationToken).ConfigureAwait(false);
        byte[] plaintext = [];
        try
        {
            if (key.Length != Fernet.KeyLength)
            {
                throw EnvelopeErrors.Invalid(EnvelopeErrors.DataKeyInvalid, $"The legacy data key is {key.Length} bytes; Fernet needs {Fernet.KeyLength}.");
            }

            plaintext = Fernet.Decrypt(token, key);
            await output.WriteAsync(plaintext, cancellationToken).ConfigureAwait(false);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            return new LegacyDecryptResult(plaintext.Length, Fernet.ReadTimestamp(token));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static async Task<string> ReadTokenAsync(Stream input, int maxTokenLength, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await input.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxTokenLength)
            {
                throw EnvelopeErrors.Invalid(EnvelopeErrors.LimitExceeded, $"The legacy file's Fernet token is longer than the {maxTokenLength}-byte limit.");
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0)
        {
            throw Malformed("it has no Fernet token after the encrypted key");
        }

        return Encoding.ASCII.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static NitroEnclaveException Malformed(string reason) =>
        EnvelopeErrors.Invalid(EnvelopeErrors.LegacyMalformed, $"The file is not a valid legacy .encrypted file: {reason}.");
}
