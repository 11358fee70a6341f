using System.Diagnostics;
using System.Security.Cryptography;
using NitroEnclave.Detection;
using NitroEnclave.Envelope;
using NitroEnclave.Kms;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// Detect: the encrypted file is opened here, inside the enclave, with a data key that KMS releases only to an attested
/// enclave; the image is decoded and run through the detector; only the objects leave. Plaintext is zeroed after use.
/// </summary>
public sealed class DetectionService : IDetectionService
{
    /// <summary>The detector keeps candidates down to this score; each request then applies its own minimum.</summary>
    public const double ScoreFloor = 0.2;
    public const double DefaultMinScore = 0.5;
    public const int DefaultMaxResults = 20;

    private readonly ObjectDetector _detector;
    private readonly KmsRoute _kms;
    private readonly RecipientKeys _keys;

    public DetectionService(ObjectDetector detector, KmsRoute kms, RecipientKeys keys)
    {
        _detector = detector ?? throw new ArgumentNullException(nameof(detector));
        _kms = kms ?? throw new ArgumentNullException(nameof(kms));
        _keys = keys ?? throw new ArgumentNullException(nameof(keys));
    }

    /// <summary>How long a request waits for its share of the memory budget before it is refused with Busy.</summary>
    public static readonly TimeSpan MemoryWait = TimeSpan.FromSeconds(2);

    public async Task<DetectResponse> DetectAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(memory);
        var total = Stopwatch.StartNew();
        var kind = EncryptedFileFormat.Detect(request.EncryptedFile);
        if (kind == EncryptedFileKind.Unknown)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.DecryptFailed, "The file is neither an AWS Encryption SDK message nor the reference sample's .encrypted format.");
        }

        // The plaintext is never longer than the ciphertext; it is held twice for a moment (buffer and copy).
        await memory.ReserveAsync(2L * request.EncryptedFile.Length, MemoryWait, "the decrypted file", cancellationToken).ConfigureAwait(false);
        var decryptor = new TimedDecryptor(new RecipientDataKeyDecryptor(
            _kms.ClientFor(request.Credentials),
            _keys,
            request.Credentials.GrantTokens,
            new AwsCredentialsUsed("the request", request.Credentials.AccessKeyId, request.Credentials.SessionToken is not null)));
        byte[] image;
        using (var plaintext = new MemoryStream(request.EncryptedFile.Length))
        {
            try
            {
                var input = new MemoryStream(request.EncryptedFile, writable: false);
                if (kind == EncryptedFileKind.EncryptionSdkMessage)
                {
                    // Plaintext stays in memory and is discarded on any failure, signature included, so the
                    // streaming mode is as safe here as VerifyBeforeRelease, without its second pass.
                    await EnvelopeDecryptor.DecryptAsync(input, plaintext, decryptor, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await LegacyEncryptedFile.DecryptAsync(input, plaintext, decryptor, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                image = plaintext.ToArray();
            }
            catch (NitroEnclaveException ex)
            {
                throw MapDecryptFailure(ex);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(plaintext.GetBuffer());
            }
        }

        var decrypted = total.Elapsed;
        DetectionResult result;
        try
        {
            await memory.ReserveAsync(_detector.DecodeMemoryBound(image), MemoryWait, "decoding the image", cancellationToken).ConfigureAwait(false);
            result = _detector.Detect(image);
        }
        catch (NitroEnclaveException ex) when (ex.ErrorId.StartsWith("Image", StringComparison.Ordinal))
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.UnsupportedImage, ex.Message, ex);
        }
        catch (Exception ex) when (ex is (NitroEnclaveException and not EnclaveProtocolException) or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.ModelError, "The detector failed: " + ex.Message, ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(image);
        }

        return new DetectResponse
        {
            Objects = Select(result, request.Options),
            ImageWidth = result.ImageWidth,
            ImageHeight = result.ImageHeight,
            Model = result.Model,
            Timings = new Dictionary<string, double>
            {
                ["kms"] = decryptor.Elapsed.TotalMilliseconds,
                ["decrypt"] = (decrypted - decryptor.Elapsed).TotalMilliseconds,
                ["decode"] = result.Timings.Decode.TotalMilliseconds,
                ["preprocess"] = result.Timings.Preprocess.TotalMilliseconds,
                ["inference"] = result.Timings.Inference.TotalMilliseconds,
                ["postprocess"] = result.Timings.Postprocess.TotalMilliseconds,
                ["total"] = total.Elapsed.TotalMilliseconds,
            },
        };
    }

    /// <summary>Applies the request's minimum score, classes and count to the detector's candidates (best first).</summary>
    private static List<DetectedObject> Select(DetectionResult result, DetectionRequestOptions options)
    {
        var minScore = Math.Max(options.MinScore ?? DefaultMinScore, ScoreFloor);
        var classes = options.Classes.Count == 0 ? null : new HashSet<string>(options.Classes, StringComparer.OrdinalIgnoreCase);
        return result.Detections
            .Where(d => d.Score >= minScore && (classes is null || classes.Contains(d.Label)))
            .OrderByDescending(d => d.Score)
            .Take(options.MaxResults ?? DefaultMaxResults)
            .Select(d => new DetectedObject(
                d.Label,
                d.ClassId,
                d.Score,
                new BoundingBox(d.Box.XMin, d.Box.YMin, d.Box.XMax, d.Box.YMax),
                new BoundingBox(d.PixelBox.XMin, d.PixelBox.YMin, d.PixelBox.XMax, d.PixelBox.YMax)))
            .ToList();
    }

    private static EnclaveProtocolException MapDecryptFailure(NitroEnclaveException ex)
    {
        var code = ex.ErrorId switch
        {
            EnvelopeErrors.KmsAccessDenied => ProtocolErrorCodes.KmsAccessDenied,
            EnvelopeErrors.AwsSignatureInvalid => ProtocolErrorCodes.AwsSignatureInvalid,
            EnvelopeErrors.AwsAccessKeyUnknown => ProtocolErrorCodes.AwsAccessKeyUnknown,
            EnvelopeErrors.AwsTokenInvalid => ProtocolErrorCodes.AwsTokenInvalid,
            EnvelopeErrors.KmsUnavailable => ProtocolErrorCodes.KmsUnavailable,
            EnvelopeErrors.KmsInvalidCiphertext => ProtocolErrorCodes.DecryptFailed,
            _ when ex.ErrorId.StartsWith("Kms", StringComparison.Ordinal) => ProtocolErrorCodes.KmsError,
            _ when ex.ErrorId.StartsWith("Attestation", StringComparison.Ordinal) || ex.ErrorId.StartsWith("Nsm", StringComparison.Ordinal) => ProtocolErrorCodes.Unavailable,
            _ => ProtocolErrorCodes.DecryptFailed,
        };
        return new EnclaveProtocolException(code, ex.Message, ex);
    }

    /// <summary>Measures the time spent in KMS (attestation included) so it can be reported apart from decryption.</summary>
    private sealed class TimedDecryptor(IDataKeyDecryptor inner) : IDataKeyDecryptor
    {
        public TimeSpan Elapsed { get; private set; }

        public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                return await inner.DecryptDataKeyAsync(encryptedDataKey, encryptionContext, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Elapsed += watch.Elapsed;
            }
        }
    }
}
