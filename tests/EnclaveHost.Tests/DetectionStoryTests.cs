using System.Security.Cryptography;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Detection;
using NitroEnclave.Envelope;
using NitroEnclave.Kms;
using NitroEnclave.LocalKms.Hosting;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests;

/// <summary>
/// The mission's main path over TCP loopback: air-show.jpg encrypted under a key whose policy admits only the
/// simulated enclave's PCR0; the enclave server gets the data key from the local KMS under attestation and finds the
/// five airplanes. The key's own administrator (the "parent") is denied, and so is a server measuring differently.
/// </summary>
public sealed class DetectionStoryTests : IAsyncLifetime
{
    private static readonly byte[] EnclavePcr0 = SHA384.HashData("the enclave image"u8);
    private static readonly byte[] OtherPcr0 = SHA384.HashData("a modified enclave image"u8);
    private static readonly Dictionary<string, string> Context = new() { ["purpose"] = "detection" };

    private readonly SimulatedNsmChain _chain = SimulatedNsmChain.Create();
    private readonly List<RecipientKeys> _keys = [];
    private readonly ObjectDetector _detector = ObjectDetector.Create(new DetectorOptions
    {
        ModelPath = ModelPath(),
        ScoreThreshold = DetectionService.ScoreFloor,
        MaxDetections = 100,
        IntraOpThreads = 1,
    });

    private string _dataPath = null!;
    private LocalKmsServer _kms = null!;
    private AmazonKeyManagementServiceClient _admin = null!;
    private string _keyArn = null!;
    private byte[] _encryptedImage = null!;
    private AwsCallerCredentials _credentials = null!;

    public async Task InitializeAsync()
    {
        _dataPath = Directory.CreateTempSubdirectory("story-kms-").FullName;
        _kms = await LocalKmsServer.StartAsync(new LocalKmsOptions { DataPath = _dataPath, TrustedRoots = [_chain.Root] });
        _admin = new AmazonKeyManagementServiceClient(
            new BasicAWSCredentials(_kms.AdminAccessKeyId, _kms.AdminSecretAccessKey),
            new AmazonKeyManagementServiceConfig { ServiceURL = _kms.Endpoint.ToString(), AuthenticationRegion = _kms.Region, MaxErrorRetry = 0 });
        var admin = $"arn:aws:iam::{_kms.AccountId}:user/admin";
        var pcr = Convert.ToHexStringLower(EnclavePcr0);
        var policy = $$$"""
            {"Version": "2012-10-17", "Statement": [
              {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "{{{admin}}}"}, "Action": "kms:*", "Resource": "*"},
              {"Sid": "OnlyTheEnclaveDecrypts", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:ReEncrypt*"], "Resource": "*",
               "Condition": {"StringNotEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{pcr}}}"} } }
            ]}
            """;
        _keyArn = (await _admin.CreateKeyAsync(new CreateKeyRequest { Policy = policy, BypassPolicyLockoutSafetyCheck = true })).KeyMetadata.Arn;
        _encryptedImage = await EncryptAsync(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "data", "air-show.jpg")));
        _credentials = new AwsCallerCredentials { AccessKeyId = _kms.AdminAccessKeyId, SecretAccessKey = _kms.AdminSecretAccessKey, Region = _kms.Region };
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _kms.DisposeAsync();
        _detector.Dispose();
        _keys.ForEach(k => k.Dispose());
        _chain.Dispose();
        Directory.Delete(_dataPath, recursive: true);
    }

    [Fact]
    public async Task The_enclave_finds_the_five_airplanes_of_the_reference()
    {
        await using var server = StartServer(EnclavePcr0);

        var response = await Detect(server, _encryptedImage);

        Assert.Equal((3994, 3235), (response.ImageWidth, response.ImageHeight));
        Assert.Equal(5, response.Objects.Count);
        Assert.All(response.Objects, o => Assert.Equal("airplane", o.Label));
        var expected = ExpectedBoxes();
        foreach (var box in expected)
        {
            Assert.Contains(response.Objects, o => IoU(o.Box, box) >= 0.5);
        }

        Assert.True(response.Timings["kms"] > 0 && response.Timings["inference"] > 0 && response.Timings["total"] >= response.Timings["inference"]);
    }

    [Fact]
    public async Task The_parent_itself_cannot_decrypt_the_file()
    {
        using var provider = new KmsDataKeyProvider(_admin);

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() =>
            EnvelopeDecryptor.DecryptAsync(new MemoryStream(_encryptedImage), new MemoryStream(), provider));

        Assert.Equal(EnvelopeErrors.KmsAccessDenied, error.ErrorId);
    }

    [Fact]
    public async Task A_server_that_measures_differently_is_denied_by_KMS_with_a_clear_error()
    {
        await using var server = StartServer(OtherPcr0);

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => Detect(server, _encryptedImage));

        Assert.Equal(ProtocolErrorCodes.KmsAccessDenied, error.Code);
        Assert.Contains("denied", error.Message, StringComparison.Ordinal);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_debug_mode_enclave_is_denied()
    {
        await using var server = StartServer(EnclavePcr0, debugMode: true);

        Assert.Equal(ProtocolErrorCodes.KmsAccessDenied, (await Assert.ThrowsAsync<EnclaveProtocolException>(() => Detect(server, _encryptedImage))).Code);
    }

    [Fact]
    public async Task Tampered_files_are_DecryptFailed_and_the_server_keeps_serving()
    {
        await using var server = StartServer(EnclavePcr0);
        var body = (byte[])_encryptedImage.Clone();
        body[^2000] ^= 0x40;
        var garbage = RandomNumberGenerator.GetBytes(5000);
        var truncated = _encryptedImage[..(_encryptedImage.Length / 2)];

        foreach (var file in new[] { body, garbage, truncated })
        {
            Assert.Equal(ProtocolErrorCodes.DecryptFailed, (await Assert.ThrowsAsync<EnclaveProtocolException>(() => Detect(server, file))).Code);
        }

        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_file_for_another_encryption_context_or_key_blob_is_refused_by_KMS_as_DecryptFailed()
    {
        await using var server = StartServer(EnclavePcr0);
        var capture = new CapturingDecryptor();
        await Assert.ThrowsAsync<InvalidOperationException>(() => EnvelopeDecryptor.ReadHeaderAsync(new MemoryStream(_encryptedImage), capture));
        var blobOffset = _encryptedImage.AsSpan().IndexOf(capture.Blob);
        Assert.True(blobOffset > 0);
        var tamperedBlob = (byte[])_encryptedImage.Clone();
        tamperedBlob[blobOffset + 20] ^= 0x01;

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => Detect(server, tamperedBlob));

        Assert.Equal(ProtocolErrorCodes.DecryptFailed, error.Code);
    }

    [Fact]
    public async Task An_encrypted_file_that_is_not_an_image_is_UnsupportedImage()
    {
        await using var server = StartServer(EnclavePcr0);
        var notAnImage = await EncryptAsync("just some text, not a picture"u8.ToArray());

        Assert.Equal(ProtocolErrorCodes.UnsupportedImage, (await Assert.ThrowsAsync<EnclaveProtocolException>(() => Detect(server, notAnImage))).Code);
    }

    [Fact]
    public async Task KMS_down_is_KmsUnavailable()
    {
        await using var server = StartServer(EnclavePcr0, kms: KmsRoute.Direct("http://127.0.0.1:1/"));

        Assert.Equal(ProtocolErrorCodes.KmsUnavailable, (await Assert.ThrowsAsync<EnclaveProtocolException>(() => Detect(server, _encryptedImage))).Code);
    }

    [Fact]
    public async Task Options_filter_the_objects_and_secrets_stay_out_of_the_log()
    {
        await using var server = StartServer(EnclavePcr0);

        var none = await Detect(server, _encryptedImage, new DetectionRequestOptions { Classes = ["person"] });
        var two = await Detect(server, _encryptedImage, new DetectionRequestOptions { MaxResults = 2 });

        Assert.Empty(none.Objects);
        Assert.Equal(2, two.Objects.Count);
        Assert.True(two.Objects[0].Score >= two.Objects[1].Score);
        Assert.DoesNotContain(_kms.AdminSecretAccessKey, server.Log.ToString(), StringComparison.Ordinal);
    }

    private TestServer StartServer(byte[] pcr0, bool debugMode = false, KmsRoute? kms = null)
    {
        var nsm = new SecurityModuleAccess(new SimulatedNsm(_chain, new SimulatedNsmOptions { DebugMode = debugMode }.WithPcr(0, pcr0)));
        var keys = new RecipientKeys(nsm.AttestRecipientKey);
        _keys.Add(keys);
        var detection = new DetectionService(_detector, kms ?? KmsRoute.Direct(_kms.Endpoint.ToString()), keys);
        return TestServer.Start(handler: description => new RequestHandler(description, nsm, detection));
    }

    private Task<DetectResponse> Detect(TestServer server, byte[] file, DetectionRequestOptions? options = null) =>
        server.Client(TimeSpan.FromSeconds(60)).DetectAsync(new DetectRequest { EncryptedFile = file, Credentials = _credentials, Options = options ?? new() }, CancellationToken.None);

    private static async Task AssertStillServes(TestServer server) =>
        Assert.NotNull(await server.Client().DescribeAsync(CancellationToken.None));

    private async Task<byte[]> EncryptAsync(byte[] plaintext)
    {
        using var provider = new KmsDataKeyProvider(_admin);
        var output = new MemoryStream();
        await EnvelopeEncryptor.EncryptAsync(new MemoryStream(plaintext), output, provider, new EnvelopeEncryptOptions { KeyId = _keyArn, EncryptionContext = Context });
        return output.ToArray();
    }

    private static string ModelPath()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "models", DetectorOptions.DefaultModelFileName);
        return File.Exists(path) ? path : throw new InvalidOperationException($"The detection model is missing ({path}): run ./scripts/prepare.sh, then build.");
    }

    /// <summary>The reference's boxes, [ymin, xmin, ymax, xmax] normalised.</summary>
    private static List<BoundingBox> ExpectedBoxes()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "air-show.expected.json")));
        var boxes = new List<BoundingBox>();
        foreach (var item in FindBoxes(json.RootElement))
        {
            var v = item.EnumerateArray().Select(e => e.GetDouble()).ToArray();
            boxes.Add(new BoundingBox(v[1], v[0], v[3], v[2]));
        }

        Assert.Equal(5, boxes.Count);
        return boxes;
    }

    private static IEnumerable<JsonElement> FindBoxes(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => p.Name == "detection_box" ? [p.Value] : FindBoxes(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(FindBoxes),
        _ => [],
    };

    private static double IoU(BoundingBox a, BoundingBox b)
    {
        var w = Math.Max(0, Math.Min(a.XMax, b.XMax) - Math.Max(a.XMin, b.XMin));
        var h = Math.Max(0, Math.Min(a.YMax, b.YMax) - Math.Max(a.YMin, b.YMin));
        var intersection = w * h;
        return intersection / ((a.Width * a.Height) + (b.Width * b.Height) - intersection);
    }

    /// <summary>Records the KMS blob the header carries, then stops the read.</summary>
    private sealed class CapturingDecryptor : IDataKeyDecryptor
    {
        public byte[] Blob { get; private set; } = [];

        public Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
        {
            Blob = encryptedDataKey.Ciphertext;
            throw new InvalidOperationException("captured");
        }
    }
}
