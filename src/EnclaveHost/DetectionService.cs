using System.Diagnostics;
using System.Security.Cryptography;
using NitroEnclave.Detection;
using NitroEnclave.Detection.Annotation;
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
        if (request.Result is not null)
        {
            throw new InvalidOperationException("A confidential request goes to DetectConfidentialAsync.");
        }

        var total = Stopwatch.StartNew();
        var input = await DecryptAsync(request, memory, cancellationToken).ConfigureAwait(false);
        try
        {
            if (input.RequiredResultKey is { } pinned)
            {
                throw new EnclaveProtocolException(ProtocolErrorCodes.ConfidentialResultRequired,
                    $"The data owner requires this file's result to be encrypted to '{pinned}': ask for a confidential result with that key.");
            }

            var result = await RunDetectorAsync(input.Image, memory, cancellationToken).ConfigureAwait(false);
            var timings = Timings(input, result);
            timings["total"] = total.Elapsed.TotalMilliseconds;
            return new DetectResponse
            {
                Objects = Select(result, request.Options),
                ImageWidth = result.ImageWidth,
                ImageHeight = result.ImageHeight,
                Model = result.Model,
                Timings = timings,
            };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input.Image);
        }
    }

    /// <summary>
    /// A confidential Detect: the same detection, then the result (and, when asked, the annotated image drawn here) is
    /// encrypted under a data key from KMS GenerateDataKey with Recipient, so only the result key's decrypters read it.
    /// If anything in that fails, the request fails: no part of the result ever leaves in the clear.
    /// </summary>
    public async Task<ConfidentialDetectResponse> DetectConfidentialAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(memory);
        var confidential = request.Result ?? throw new InvalidOperationException("An open request goes to DetectAsync.");
        var total = Stopwatch.StartNew();
        var inputSha256 = ConfidentialResultFormat.Sha256Hex(request.EncryptedFile);
        var input = await DecryptAsync(request, memory, cancellationToken).ConfigureAwait(false);
        byte[]? resultDocument = null;
        byte[]? annotated = null;
        try
        {
            if (input.RequiredResultKey is { } pinned && !string.Equals(pinned, confidential.KeyId, StringComparison.Ordinal))
            {
                throw new EnclaveProtocolException(ProtocolErrorCodes.ConfidentialResultRequired,
                    $"The data owner requires this file's result to be encrypted to '{pinned}', not to '{confidential.KeyId}'.");
            }

            var result = await RunDetectorAsync(input.Image, memory, cancellationToken).ConfigureAwait(false);
            var objects = Select(result, request.Options);
            var timings = Timings(input, result);
            var stage = Stopwatch.StartNew();
            if (confidential.Annotate)
            {
                annotated = await AnnotateAsync(input.Image, objects, result, memory, cancellationToken).ConfigureAwait(false);
                timings["annotate"] = stage.Elapsed.TotalMilliseconds;
            }

            CryptographicOperations.ZeroMemory(input.Image);
            resultDocument = ConfidentialResultFormat.Write(confidential.InputName, inputSha256, result.Model, result.ImageWidth, result.ImageHeight, objects, timings);
            stage.Restart();
            var generator = new RecipientDataKeyGenerator(_kms.ClientFor(request.Credentials), _keys, request.Credentials.GrantTokens, CredentialsUsed(request));
            var encryptedResult = await EncryptAsync(resultDocument, ConfidentialResultFormat.ResultContent, confidential, inputSha256, input.RequiredResultKey, generator, memory, cancellationToken).ConfigureAwait(false);
            var encryptedImage = annotated is null
                ? null
                : await EncryptAsync(annotated, ConfidentialResultFormat.AnnotatedImageContent, confidential, inputSha256, input.RequiredResultKey, generator, memory, cancellationToken).ConfigureAwait(false);
            timings["encrypt"] = stage.Elapsed.TotalMilliseconds;
            timings["total"] = total.Elapsed.TotalMilliseconds;
            return new ConfidentialDetectResponse { Model = result.Model, EncryptedResult = encryptedResult, EncryptedAnnotatedImage = encryptedImage, Timings = timings };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input.Image);
            if (resultDocument is not null)
            {
                CryptographicOperations.ZeroMemory(resultDocument);
            }

            if (annotated is not null)
            {
                CryptographicOperations.ZeroMemory(annotated);
            }
        }
    }

    /// <summary>The decrypted image, the time KMS took, and the result key the input's context pins, if any.</summary>
    private sealed record DecryptedInput(byte[] Image, TimeSpan Kms, TimeSpan Decrypt, string? RequiredResultKey);

    private async Task<DecryptedInput> DecryptAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var kind = EncryptedFileFormat.Detect(request.EncryptedFile);
        if (kind == EncryptedFileKind.Unknown)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.DecryptFailed, "The file is neither an AWS Encryption SDK message nor the reference sample's .encrypted format.");
        }

        // The plaintext is never longer than the ciphertext; it is held twice for a moment (buffer and copy).
        await memory.ReserveAsync(2L * request.EncryptedFile.Length, MemoryWait, "the decrypted file", cancellationToken).ConfigureAwait(false);
        var decryptor = new TimedDecryptor(new RecipientDataKeyDecryptor(_kms.ClientFor(request.Credentials), _keys, request.Credentials.GrantTokens, CredentialsUsed(request)));
        using var plaintext = new MemoryStream(request.EncryptedFile.Length);
        try
        {
            var input = new MemoryStream(request.EncryptedFile, writable: false);
            string? requiredResultKey = null;
            if (kind == EncryptedFileKind.EncryptionSdkMessage)
            {
                // Plaintext stays in memory and is discarded on any failure, signature included, so the
                // streaming mode is as safe here as VerifyBeforeRelease, without its second pass.
                var decrypted = await EnvelopeDecryptor.DecryptAsync(input, plaintext, decryptor, cancellationToken: cancellationToken).ConfigureAwait(false);
                decrypted.EncryptionContext.TryGetValue(ConfidentialResultFormat.RequiredResultKeyKey, out requiredResultKey);
            }
            else
            {
                await LegacyEncryptedFile.DecryptAsync(input, plaintext, decryptor, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            return new DecryptedInput(plaintext.ToArray(), decryptor.Elapsed, watch.Elapsed - decryptor.Elapsed, requiredResultKey);
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

    private async Task<DetectionResult> RunDetectorAsync(byte[] image, MemoryLease memory, CancellationToken cancellationToken)
    {
        try
        {
            await memory.ReserveAsync(_detector.DecodeMemoryBound(image), MemoryWait, "decoding the image", cancellationToken).ConfigureAwait(false);
            return _detector.Detect(image);
        }
        catch (NitroEnclaveException ex) when (ex.ErrorId.StartsWith("Image", StringComparison.Ordinal))
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.UnsupportedImage, ex.Message, ex);
        }
        catch (Exception ex) when (ex is (NitroEnclaveException and not EnclaveProtocolException) or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.ModelError, "The detector failed: " + ex.Message, ex);
        }
    }

    /// <summary>Draws the selected objects on the full-size image, inside the enclave, as a JPEG.</summary>
    private static async Task<byte[]> AnnotateAsync(byte[] image, List<DetectedObject> objects, DetectionResult result, MemoryLease memory, CancellationToken cancellationToken)
    {
        try
        {
            // The full-size decode, its RGB copy for drawing and the JPEG written from it.
            await memory.ReserveAsync(2 * ImageDecoder.DecodeMemoryBound(image, int.MaxValue, int.MaxValue), MemoryWait, "drawing the annotated image", cancellationToken).ConfigureAwait(false);
            return DetectionAnnotator.Draw(image, objects, result.ImageWidth, result.ImageHeight, new AnnotationOptions()).Encode(ImageFormat.Jpeg);
        }
        catch (NitroEnclaveException ex) when (ex is not EnclaveProtocolException)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.UnsupportedImage, "The annotated image could not be drawn: " + ex.Message, ex);
        }
    }

    /// <summary>
    /// One AWS Encryption SDK message under the result key, bound to the input by its encryption context. When the
    /// input pins a result key, KMS must have answered for exactly that key, or nothing is returned.
    /// </summary>
    private static async Task<byte[]> EncryptAsync(
        byte[] plaintext, string content, ConfidentialResultRequest confidential, string inputSha256, string? requiredResultKey,
        IDataKeyGenerator generator, MemoryLease memory, CancellationToken cancellationToken)
    {
        await memory.ReserveAsync(2L * plaintext.Length + 4096, MemoryWait, "the encrypted result", cancellationToken).ConfigureAwait(false);
        using var output = new MemoryStream(plaintext.Length + 1024);
        EnvelopeEncryptResult encrypted;
        try
        {
            encrypted = await EnvelopeEncryptor.EncryptAsync(
                new MemoryStream(plaintext, writable: false),
                output,
                generator,
                new EnvelopeEncryptOptions { KeyId = confidential.KeyId, EncryptionContext = ConfidentialResultFormat.EncryptionContext(content, confidential.InputName, inputSha256) },
                cancellationToken).ConfigureAwait(false);
        }
        catch (NitroEnclaveException ex) when (ex is not EnclaveProtocolException)
        {
            throw MapEncryptFailure(ex);
        }

        if (requiredResultKey is not null && !string.Equals(encrypted.KeyArn, requiredResultKey, StringComparison.Ordinal))
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.ConfidentialResultRequired,
                $"KMS generated the result's data key under '{encrypted.KeyArn}', not under the key the data owner requires, '{requiredResultKey}'.");
        }

        return output.ToArray();
    }

    private static Dictionary<string, double> Timings(DecryptedInput input, DetectionResult result) => new(StringComparer.Ordinal)
    {
        ["kms"] = input.Kms.TotalMilliseconds,
        ["decrypt"] = input.Decrypt.TotalMilliseconds,
        ["decode"] = result.Timings.Decode.TotalMilliseconds,
        ["preprocess"] = result.Timings.Preprocess.TotalMilliseconds,
        ["inference"] = result.Timings.Inference.TotalMilliseconds,
        ["postprocess"] = result.Timings.Postprocess.TotalMilliseconds,
    };

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

    private static AwsCredentialsUsed CredentialsUsed(DetectRequest request) =>
        new("the request", request.Credentials.AccessKeyId, request.Credentials.SessionToken is not null);

    private static EnclaveProtocolException MapDecryptFailure(NitroEnclaveException ex)
    {
        var code = KmsFailureCode(ex.ErrorId) ?? ex.ErrorId switch
        {
            EnvelopeErrors.KmsInvalidCiphertext => ProtocolErrorCodes.DecryptFailed,
            _ when ex.ErrorId.StartsWith("Kms", StringComparison.Ordinal) => ProtocolErrorCodes.KmsError,
            _ when IsSecurityModuleFailure(ex.ErrorId) => ProtocolErrorCodes.Unavailable,
            _ => ProtocolErrorCodes.DecryptFailed,
        };
        return new EnclaveProtocolException(code, ex.Message, ex);
    }

    /// <summary>GenerateDataKey with Recipient failed: a typed KMS error; the result stays inside.</summary>
    private static EnclaveProtocolException MapEncryptFailure(NitroEnclaveException ex)
    {
        var code = KmsFailureCode(ex.ErrorId) ?? (IsSecurityModuleFailure(ex.ErrorId) ? ProtocolErrorCodes.Unavailable : ProtocolErrorCodes.KmsError);
        return new EnclaveProtocolException(code, "The result could not be encrypted, so it is not returned: " + ex.Message, ex);
    }

    /// <summary>The KMS failures that keep their own protocol code whichever call met them.</summary>
    private static string? KmsFailureCode(string errorId) => errorId switch
    {
        EnvelopeErrors.KmsAccessDenied => ProtocolErrorCodes.KmsAccessDenied,
        EnvelopeErrors.AwsSignatureInvalid => ProtocolErrorCodes.AwsSignatureInvalid,
        EnvelopeErrors.AwsAccessKeyUnknown => ProtocolErrorCodes.AwsAccessKeyUnknown,
        EnvelopeErrors.AwsTokenInvalid => ProtocolErrorCodes.AwsTokenInvalid,
        EnvelopeErrors.KmsUnavailable => ProtocolErrorCodes.KmsUnavailable,
        _ => null,
    };

    private static bool IsSecurityModuleFailure(string errorId) =>
        errorId.StartsWith("Attestation", StringComparison.Ordinal) || errorId.StartsWith("Nsm", StringComparison.Ordinal);

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
