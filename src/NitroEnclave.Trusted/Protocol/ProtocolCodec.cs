using System.Formats.Cbor;
using System.Text.RegularExpressions;

namespace NitroEnclave.Protocol;

/// <summary>Encodes and decodes the protocol's CBOR messages (docs/protocol.md).</summary>
public static partial class ProtocolCodec
{
    private const int MaxLabelLength = 128;
    private const int MaxClasses = 256;

    public static byte[] EncodeRequest(EnclaveRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        WriteInt(w, "v", EnclaveProtocol.Version);
        WriteText(w, "op", request.Operation);
        switch (request)
        {
            case AttestRequest attest:
                WriteOptionalBytes(w, "nonce", attest.Nonce);
                WriteOptionalBytes(w, "userData", attest.UserData);
                break;
            case DetectRequest detect:
                w.WriteTextString("file");
                w.WriteByteString(detect.EncryptedFile);
                w.WriteTextString("aws");
                w.WriteStartMap(null);
                WriteText(w, "accessKeyId", detect.Credentials.AccessKeyId);
                WriteText(w, "secretAccessKey", detect.Credentials.SecretAccessKey);
                if (detect.Credentials.SessionToken is { } token)
                {
                    WriteText(w, "sessionToken", token);
                }

                WriteText(w, "region", detect.Credentials.Region);
                w.WriteEndMap();
                w.WriteTextString("options");
                w.WriteStartMap(null);
                if (detect.Options.MinScore is { } minScore)
                {
                    w.WriteTextString("minScore");
                    w.WriteDouble(minScore);
                }

                if (detect.Options.MaxResults is { } maxResults)
                {
                    w.WriteTextString("maxResults");
                    w.WriteInt32(maxResults);
                }

                w.WriteTextString("classes");
                w.WriteStartArray(detect.Options.Classes.Count);
                foreach (var label in detect.Options.Classes)
                {
                    w.WriteTextString(label);
                }

                w.WriteEndArray();
                w.WriteEndMap();
                if (detect.Result is { } result)
                {
                    w.WriteTextString("result");
                    w.WriteStartMap(null);
                    WriteText(w, "keyId", result.KeyId);
                    WriteText(w, "inputName", result.InputName);
                    w.WriteTextString("annotate");
                    w.WriteBoolean(result.Annotate);
                    w.WriteEndMap();
                }

                break;
        }

        w.WriteEndMap();
        return w.Encode();
    }

    /// <summary>Decodes a request; anything malformed is an EnclaveProtocolException with BadRequest or UnsupportedVersion.</summary>
    public static EnclaveRequest DecodeRequest(byte[] payload)
    {
        var fields = new CborFields(CborTree.ReadMap(payload), "request");
        CheckVersion(fields);
        var operation = fields.Text("op");
        switch (operation)
        {
            case "Describe":
                fields.AllowOnly("v", "op");
                return new DescribeRequest();
            case "Attest":
                if (fields.Contains("publicKey"))
                {
                    throw CborTree.Bad("Attest takes no publicKey: the enclave attests only key pairs it generated itself; bind your own data with userData");
                }

                fields.AllowOnly("v", "op", "nonce", "userData");
                return new AttestRequest
                {
                    Nonce = Limit(fields.OptionalBytes("nonce"), "nonce", 512),
                    UserData = Limit(fields.OptionalBytes("userData"), "userData", 512),
                };
            case "Detect":
                fields.AllowOnly("v", "op", "file", "aws", "options", "result");
                return DecodeDetect(fields);
            default:
                throw CborTree.Bad($"unknown operation '{Printable(operation)}'");
        }
    }

    public static byte[] EncodeError(string code, string message)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        WriteInt(w, "v", EnclaveProtocol.Version);
        w.WriteTextString("ok");
        w.WriteBoolean(false);
        w.WriteTextString("error");
        w.WriteStartMap(2);
        WriteText(w, "code", code);
        WriteText(w, "message", message);
        w.WriteEndMap();
        w.WriteEndMap();
        return w.Encode();
    }

    public static byte[] EncodeDescribeResponse(ServerDescription d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return EncodeSuccess(w =>
        {
            w.WriteStartMap(null);
            WriteText(w, "server", d.Server);
            WriteText(w, "version", d.Version);
            WriteInt(w, "protocol", d.Protocol);
            WriteText(w, "securityModule", d.SecurityModule);
            w.WriteTextString("debugMode");
            w.WriteBoolean(d.DebugMode);
            w.WriteTextString("kmsConfigured");
            w.WriteBoolean(d.KmsConfigured);
            if (d.Model is not null)
            {
                WriteText(w, "model", d.Model);
            }

            w.WriteTextString("labels");
            w.WriteStartArray(d.Labels.Count);
            foreach (var label in d.Labels)
            {
                w.WriteTextString(label);
            }

            w.WriteEndArray();
            WriteInt(w, "maxFrameBytes", d.MaxFrameBytes);
            w.WriteTextString("maxImagePixels");
            w.WriteInt64(d.MaxImagePixels);
            WriteInt(w, "maxConcurrentRequests", d.MaxConcurrentRequests);
            WriteInt(w, "requestTimeoutSeconds", d.RequestTimeoutSeconds);
            w.WriteEndMap();
        });
    }

    public static byte[] EncodeAttestResponse(byte[] document) => EncodeSuccess(w =>
    {
        w.WriteStartMap(1);
        w.WriteTextString("document");
        w.WriteByteString(document);
        w.WriteEndMap();
    });

    public static byte[] EncodeDetectResponse(DetectResponse r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return EncodeSuccess(w =>
        {
            w.WriteStartMap(null);
            WriteInt(w, "imageWidth", r.ImageWidth);
            WriteInt(w, "imageHeight", r.ImageHeight);
            WriteText(w, "model", r.Model);
            w.WriteTextString("objects");
            w.WriteStartArray(r.Objects.Count);
            foreach (var o in r.Objects)
            {
                w.WriteStartMap(5);
                WriteText(w, "label", o.Label);
                WriteInt(w, "classId", o.ClassId);
                w.WriteTextString("score");
                w.WriteDouble(o.Score);
                WriteBox(w, "box", o.Box);
                WriteBox(w, "pixelBox", o.PixelBox);
                w.WriteEndMap();
            }

            w.WriteEndArray();
            WriteTimings(w, r.Timings);
            w.WriteEndMap();
        });
    }

    private static void WriteTimings(CborWriter w, IReadOnlyDictionary<string, double> timings)
    {
        w.WriteTextString("timings");
        w.WriteStartMap(timings.Count);
        foreach (var (stage, ms) in timings)
        {
            w.WriteTextString(stage);
            w.WriteDouble(ms);
        }

        w.WriteEndMap();
    }

    private static Dictionary<string, double> ReadTimings(CborFields r)
    {
        var timings = new Dictionary<string, double>(StringComparer.Ordinal);
        if (r.OptionalMap("timings") is { } t)
        {
            foreach (var stage in TimingStages)
            {
                if (t.OptionalNumber(stage) is { } ms)
                {
                    timings[stage] = ms;
                }
            }
        }

        return timings;
    }

    /// <summary>A confidential answer: the ciphertexts, the model and the timings; no objects, no image size.</summary>
    public static byte[] EncodeConfidentialDetectResponse(ConfidentialDetectResponse r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return EncodeSuccess(w =>
        {
            w.WriteStartMap(null);
            WriteText(w, "model", r.Model);
            w.WriteTextString("result");
            w.WriteByteString(r.EncryptedResult);
            WriteOptionalBytes(w, "annotatedImage", r.EncryptedAnnotatedImage);
            WriteTimings(w, r.Timings);
            w.WriteEndMap();
        });
    }

    /// <summary>Reads a confidential answer; one that carries objects is refused, as the parent must never get them.</summary>
    public static ConfidentialDetectResponse DecodeConfidentialDetectResponse(byte[] payload)
    {
        var r = SuccessResult(payload);
        if (r.Contains("objects"))
        {
            throw CborTree.Bad("a confidential answer carries objects in the clear");
        }

        return new ConfidentialDetectResponse
        {
            Model = r.Text("model"),
            EncryptedResult = r.Bytes("result"),
            EncryptedAnnotatedImage = r.OptionalBytes("annotatedImage"),
            Timings = ReadTimings(r),
        };
    }

    /// <summary>Reads a response; an error response becomes an EnclaveProtocolException with the server's code.</summary>
    public static ServerDescription DecodeDescribeResponse(byte[] payload)
    {
        var r = SuccessResult(payload);
        return new ServerDescription
        {
            Server = r.Text("server"),
            Version = r.Text("version"),
            Protocol = (int)r.Integer("protocol"),
            SecurityModule = r.Text("securityModule"),
            DebugMode = r.OptionalBool("debugMode"),
            KmsConfigured = r.OptionalBool("kmsConfigured"),
            Model = r.OptionalText("model"),
            Labels = r.List("labels").OfType<string>().ToList(),
            MaxFrameBytes = (int)r.Integer("maxFrameBytes"),
            MaxImagePixels = r.Integer("maxImagePixels"),
            MaxConcurrentRequests = (int)r.Integer("maxConcurrentRequests"),
            RequestTimeoutSeconds = (int)r.Integer("requestTimeoutSeconds"),
        };
    }

    public static byte[] DecodeAttestResponse(byte[] payload) => SuccessResult(payload).Bytes("document");

    public static DetectResponse DecodeDetectResponse(byte[] payload)
    {
        var r = SuccessResult(payload);
        var objects = new List<DetectedObject>();
        foreach (var item in r.List("objects"))
        {
            var o = new CborFields(item as Dictionary<string, object?> ?? throw CborTree.Bad("an object is not a map"), "object");
            objects.Add(new DetectedObject(o.Text("label"), (int)o.Integer("classId"), o.OptionalNumber("score") ?? 0, ReadBox(o, "box"), ReadBox(o, "pixelBox")));
        }

        var timings = ReadTimings(r);
        return new DetectResponse
        {
            Objects = objects,
            ImageWidth = (int)r.Integer("imageWidth"),
            ImageHeight = (int)r.Integer("imageHeight"),
            Model = r.Text("model"),
            Timings = timings,
        };
    }

    /// <summary>The stage names a Detect response reports, in pipeline order.</summary>
    public static IReadOnlyList<string> TimingStages { get; } = ["kms", "decrypt", "decode", "preprocess", "inference", "postprocess", "annotate", "encrypt", "total"];

    private static CborFields SuccessResult(byte[] payload)
    {
        var fields = new CborFields(CborTree.ReadMap(payload), "response");
        CheckVersion(fields);
        if (!fields.OptionalBool("ok"))
        {
            var error = fields.Map("error");
            throw new EnclaveProtocolException(Printable(error.Text("code")), "The enclave server reported: " + Printable(error.Text("message")));
        }

        return fields.Map("result");
    }

    private static DetectRequest DecodeDetect(CborFields fields)
    {
        var aws = fields.Map("aws");
        aws.AllowOnly("accessKeyId", "secretAccessKey", "sessionToken", "region");
        var options = fields.OptionalMap("options");
        options?.AllowOnly("minScore", "maxResults", "classes");
        var classes = options?.List("classes") ?? [];
        if (classes.Count > MaxClasses || classes.Any(c => c is not string s || s.Length > MaxLabelLength))
        {
            throw CborTree.Bad("options.classes must be a list of at most 256 short labels");
        }

        var minScore = options?.OptionalNumber("minScore");
        if (minScore is < 0 or > 1 || (minScore is { } m && double.IsNaN(m)))
        {
            throw CborTree.Bad("options.minScore must be between 0 and 1");
        }

        var maxResults = options?.OptionalInteger("maxResults");
        if (maxResults is < 1 or > 10_000)
        {
            throw CborTree.Bad("options.maxResults must be between 1 and 10000");
        }

        return new DetectRequest
        {
            Result = DecodeResult(fields.OptionalMap("result")),
            EncryptedFile = fields.Bytes("file"),
            Credentials = new AwsCallerCredentials
            {
                AccessKeyId = aws.Text("accessKeyId"),
                SecretAccessKey = aws.Text("secretAccessKey"),
                SessionToken = aws.OptionalText("sessionToken"),
                Region = aws.Text("region"),
            },
            Options = new DetectionRequestOptions { MinScore = minScore, MaxResults = (int?)maxResults, Classes = classes.Cast<string>().ToList() },
        };
    }

    /// <summary>
    /// The parent names the result key and the input: a key id, key ARN, alias name or alias ARN as KMS spells them,
    /// and a plain file name. Anything else is BadRequest before KMS is asked.
    /// </summary>
    private static ConfidentialResultRequest? DecodeResult(CborFields? result)
    {
        if (result is not { } r)
        {
            return null;
        }

        r.AllowOnly("keyId", "inputName", "annotate");
        var keyId = r.Text("keyId");
        if (!IsKmsKeyId(keyId))
        {
            throw CborTree.Bad($"result.keyId '{Printable(keyId)}' is not a KMS key id, key ARN, alias name or alias ARN");
        }

        var inputName = r.Text("inputName");
        if (!IsPlainFileName(inputName))
        {
            throw CborTree.Bad("result.inputName must be a file name of 1 to 255 printable characters, without a folder");
        }

        return new ConfidentialResultRequest { KeyId = keyId, InputName = inputName, Annotate = r.OptionalBool("annotate") };
    }

    /// <summary>Whether <paramref name="keyId"/> is a KMS key id, key ARN, alias name or alias ARN.</summary>
    public static bool IsKmsKeyId(string keyId) => keyId.Length <= 2048 && KmsKeyIdPattern().IsMatch(keyId) && !keyId.Contains("alias/aws/", StringComparison.Ordinal);

    /// <summary>Whether <paramref name="keyId"/> is a key ARN: the only form that names one key in one account for everyone.</summary>
    public static bool IsKmsKeyArn(string keyId) => keyId.Length <= 2048 && KmsKeyArnPattern().IsMatch(keyId);

    private static bool IsPlainFileName(string name) =>
        name.Length is >= 1 and <= 255 && name is not ("." or "..") && !name.Any(c => char.IsControl(c) || c is '/' or '\\');

    [GeneratedRegex(@"^((mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|alias/[A-Za-z0-9/_-]{1,250})|alias/[A-Za-z0-9/_-]{1,250})\z", RegexOptions.CultureInvariant)]
    private static partial Regex KmsKeyIdPattern();

    [GeneratedRegex(@"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\z", RegexOptions.CultureInvariant)]
    private static partial Regex KmsKeyArnPattern();

    private static void CheckVersion(CborFields fields)
    {
        var version = fields.Integer("v");
        if (version != EnclaveProtocol.Version)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.UnsupportedVersion, $"Protocol version {version} is not supported; this side speaks version {EnclaveProtocol.Version}.");
        }
    }

    private static byte[] EncodeSuccess(Action<CborWriter> writeResult)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        WriteInt(w, "v", EnclaveProtocol.Version);
        w.WriteTextString("ok");
        w.WriteBoolean(true);
        w.WriteTextString("result");
        writeResult(w);
        w.WriteEndMap();
        return w.Encode();
    }

    private static void WriteText(CborWriter w, string key, string value)
    {
        w.WriteTextString(key);
        w.WriteTextString(value);
    }

    private static void WriteInt(CborWriter w, string key, long value)
    {
        w.WriteTextString(key);
        w.WriteInt64(value);
    }

    private static void WriteOptionalBytes(CborWriter w, string key, byte[]? value)
    {
        if (value is not null)
        {
            w.WriteTextString(key);
            w.WriteByteString(value);
        }
    }

    private static void WriteBox(CborWriter w, string key, BoundingBox box)
    {
        w.WriteTextString(key);
        w.WriteStartArray(4);
        w.WriteDouble(box.XMin);
        w.WriteDouble(box.YMin);
        w.WriteDouble(box.XMax);
        w.WriteDouble(box.YMax);
        w.WriteEndArray();
    }

    private static BoundingBox ReadBox(CborFields o, string key)
    {
        var values = o.List(key);
        if (values.Count != 4 || values.Any(v => v is not (double or long)))
        {
            throw CborTree.Bad($"object.{key} must be four numbers");
        }

        var n = values.Select(v => v is long l ? l : (double)v!).ToArray();
        return new BoundingBox(n[0], n[1], n[2], n[3]);
    }

    private static byte[]? Limit(byte[]? value, string name, int max) =>
        value is { Length: var n } && n > max ? throw CborTree.Bad($"{name} is longer than {max} bytes") : value;

    /// <summary>Keeps peer-supplied text short and printable before it reaches a message or a log.</summary>
    internal static string Printable(string text)
    {
        var clean = new string(text.Take(200).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return text.Length > 200 ? clean + "..." : clean;
    }
}
