namespace NitroEnclave.Protocol;

/// <summary>A request to the enclave server (protocol version 1).</summary>
public abstract class EnclaveRequest
{
    public abstract string Operation { get; }
}

/// <summary>Asks what the server is: version, model, limits. Carries nothing.</summary>
public sealed class DescribeRequest : EnclaveRequest
{
    public override string Operation => "Describe";
}

/// <summary>
/// Asks "what are you?": a fresh attestation document binding the caller's nonce and user data. It takes no public key:
/// a document's public_key is what KMS seals data keys to, so only key pairs generated inside the enclave, whose private
/// halves never leave it, may appear there (docs/threat-model.md).
/// </summary>
public sealed class AttestRequest : EnclaveRequest
{
    public override string Operation => "Attest";

    public byte[]? Nonce { get; init; }

    public byte[]? UserData { get; init; }
}

/// <summary>
/// The parent's AWS credentials and region, passed for the server's own KMS call (the enclave has no other way to get
/// them). Never logged, never echoed.
/// </summary>
public sealed class AwsCallerCredentials
{
    public required string AccessKeyId { get; init; }

    public required string SecretAccessKey { get; init; }

    public string? SessionToken { get; init; }

    public required string Region { get; init; }

    /// <summary>Only the access key id, so an accidental log line leaks nothing secret.</summary>
    public override string ToString() => $"{AccessKeyId} ({Region})";
}

/// <summary>What the caller wants back from a detection.</summary>
public sealed class DetectionRequestOptions
{
    /// <summary>Minimum score, 0..1; null for the server's default.</summary>
    public double? MinScore { get; init; }

    /// <summary>Maximum number of objects; null for the server's default.</summary>
    public int? MaxResults { get; init; }

    /// <summary>Only these labels (case-insensitive); empty for all.</summary>
    public IReadOnlyList<string> Classes { get; init; } = [];
}

/// <summary>Runs detection on an encrypted image: the server gets the data key from KMS under attestation.</summary>
public sealed class DetectRequest : EnclaveRequest
{
    public override string Operation => "Detect";

    /// <summary>The encrypted file, as Protect-EnclaveFile wrote it (or the reference sample's format).</summary>
    public required byte[] EncryptedFile { get; init; }

    public required AwsCallerCredentials Credentials { get; init; }

    public DetectionRequestOptions Options { get; init; } = new();

    /// <summary>
    /// Set for a confidential result: the enclave encrypts its answer to this KMS key instead of returning the objects.
    /// </summary>
    public ConfidentialResultRequest? Result { get; init; }

    public override string ToString() => $"Detect ({EncryptedFile.Length} bytes{(Result is null ? string.Empty : ", confidential")})";
}

/// <summary>
/// Asks the enclave to encrypt its result (and with <see cref="Annotate"/> the annotated image it draws) as AWS
/// Encryption SDK messages under a data key it gets from KMS GenerateDataKey with Recipient, so that only whoever the
/// result key's policy lets Decrypt (the data owner) reads them. Nothing about the objects comes back in the clear.
/// </summary>
public sealed class ConfidentialResultRequest
{
    /// <summary>The result key: key id, key ARN, alias name or alias ARN (checked by <see cref="ProtocolCodec"/>).</summary>
    public required string KeyId { get; init; }

    /// <summary>
    /// The input's file name as the parent names it (for example air-show.jpg), bound into the result's encryption
    /// context beside the hash of the encrypted input the enclave computes itself.
    /// </summary>
    public required string InputName { get; init; }

    /// <summary>Also draw the objects onto the image inside the enclave and return it encrypted the same way (JPEG).</summary>
    public bool Annotate { get; init; }
}

/// <summary>The server's answer to a confidential Detect: ciphertexts only, the model's name and the stage timings.</summary>
public sealed class ConfidentialDetectResponse
{
    public required string Model { get; init; }

    /// <summary>The result (<see cref="ConfidentialResultFormat"/>) as an AWS Encryption SDK message under the result key.</summary>
    public required byte[] EncryptedResult { get; init; }

    /// <summary>The annotated JPEG as an AWS Encryption SDK message under the result key, when asked for.</summary>
    public byte[]? EncryptedAnnotatedImage { get; init; }

    /// <summary>Milliseconds per stage inside the server, as for an open Detect, plus "annotate" and "encrypt".</summary>
    public required IReadOnlyDictionary<string, double> Timings { get; init; }
}

/// <summary>A box: normalised to 0..1 of the image, or in pixels.</summary>
public sealed class BoundingBox
{
    public BoundingBox(double xMin, double yMin, double xMax, double yMax)
    {
        XMin = xMin;
        YMin = yMin;
        XMax = xMax;
        YMax = yMax;
    }

    public double XMin { get; }

    public double YMin { get; }

    public double XMax { get; }

    public double YMax { get; }

    public double Width => XMax - XMin;

    public double Height => YMax - YMin;

    public override string ToString() => FormattableString.Invariant($"({XMin:0.###}, {YMin:0.###})-({XMax:0.###}, {YMax:0.###})");
}

/// <summary>One object the enclave found.</summary>
public sealed class DetectedObject
{
    public DetectedObject(string label, int classId, double score, BoundingBox box, BoundingBox pixelBox)
    {
        Label = label;
        ClassId = classId;
        Score = score;
        Box = box;
        PixelBox = pixelBox;
    }

    public string Label { get; }

    public int ClassId { get; }

    /// <summary>Confidence, 0..1.</summary>
    public double Score { get; }

    /// <summary>Normalised to 0..1 of the image width and height.</summary>
    public BoundingBox Box { get; }

    public BoundingBox PixelBox { get; }

    /// <summary>For example "airplane 0.91 (12, 40)-(212, 120)": label, score and box in pixels.</summary>
    public override string ToString() => FormattableString.Invariant($"{Label} {Score:0.00} {PixelBox}");
}

/// <summary>The server's answer to Detect.</summary>
public sealed class DetectResponse
{
    public required IReadOnlyList<DetectedObject> Objects { get; init; }

    public required int ImageWidth { get; init; }

    public required int ImageHeight { get; init; }

    public required string Model { get; init; }

    /// <summary>Milliseconds per stage inside the server (kms, decrypt, decode, preprocess, inference, postprocess, total).</summary>
    public required IReadOnlyDictionary<string, double> Timings { get; init; }
}

/// <summary>The server's answer to Describe: nothing secret.</summary>
public sealed class ServerDescription
{
    public required string Server { get; init; }

    public required string Version { get; init; }

    public int Protocol { get; init; } = EnclaveProtocol.Version;

    /// <summary>"device" or "simulated".</summary>
    public required string SecurityModule { get; init; }

    public bool DebugMode { get; init; }

    /// <summary>Whether the server has a KMS route (Detect needs one).</summary>
    public bool KmsConfigured { get; init; }

    public string? Model { get; init; }

    public IReadOnlyList<string> Labels { get; init; } = [];

    public int MaxFrameBytes { get; init; }

    public long MaxImagePixels { get; init; }

    public int MaxConcurrentRequests { get; init; }

    public int RequestTimeoutSeconds { get; init; }
}

/// <summary>Protocol constants.</summary>
public static class EnclaveProtocol
{
    public const int Version = 1;

    /// <summary>The vsock port the server listens on by default, as the reference sample does.</summary>
    public const int DefaultPort = 5000;
}
