using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Detection;
using NitroEnclave.Envelope;
using NitroEnclave.Kms;
using NitroEnclave.KmsPolicy;
using NitroEnclave.LocalKms.Hosting;
using NitroEnclave.LocalKms.Keys;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests.Attacks;

/// <summary>
/// Confidential results, with the test as the parent: it sends the requests, holds the credentials the enclave calls
/// KMS with, and may call KMS itself. The result key's policy is the one Set-KmsEnclavePolicy -ResultKey writes, with
/// a data owner who is not the parent. What comes back holds only ciphertexts; the parent opens none of them; a
/// malformed key id is BadRequest; a refused GenerateDataKey fails the request with its KMS code and no result; and a
/// result key the parent controls is refused when the data owner pinned the result key in the input's context.
/// </summary>
public sealed class ConfidentialResultAttackTests : IAsyncLifetime
{
    private const string InputName = "air-show.jpg.enc";
    private static readonly byte[] EnclavePcr0 = SHA384.HashData("the enclave image"u8);
    private static readonly byte[] OtherPcr0 = SHA384.HashData("a modified enclave image"u8);

    private readonly SimulatedNsmChain _chain = SimulatedNsmChain.Create();
    private readonly List<RecipientKeys> _keys = [];
    private readonly ObjectDetector _detector = ObjectDetector.Create(new DetectorOptions
    {
        ModelPath = Path.Combine(AppContext.BaseDirectory, "models", DetectorOptions.DefaultModelFileName),
        ScoreThreshold = DetectionService.ScoreFloor,
        MaxDetections = 100,
        IntraOpThreads = 1,
    });

    private string _dataPath = null!;
    private LocalKmsServer _kms = null!;
    private AmazonKeyManagementServiceClient _parent = null!;
    private AmazonKeyManagementServiceClient _dataOwner = null!;
    private AwsCallerCredentials _credentials = null!;
    private string _inputKeyArn = null!;
    private string _resultKeyArn = null!;
    private byte[] _image = null!;
    private byte[] _encryptedImage = null!;

    public async Task InitializeAsync()
    {
        _dataPath = Directory.CreateTempSubdirectory("confidential-kms-").FullName;
        _kms = await LocalKmsServer.StartAsync(new LocalKmsOptions { DataPath = _dataPath, TrustedRoots = [_chain.Root] });
        var dataOwnerArn = $"arn:aws:iam::{_kms.AccountId}:role/DataOwner";
        var owner = LocalKmsData.OpenPrincipals(_dataPath).Add(dataOwnerArn);
        _parent = Client(_kms.AdminAccessKeyId, _kms.AdminSecretAccessKey);
        _dataOwner = Client(owner.AccessKeyId, owner.SecretAccessKey);
        _credentials = new AwsCallerCredentials { AccessKeyId = _kms.AdminAccessKeyId, SecretAccessKey = _kms.AdminSecretAccessKey, Region = _kms.Region };
        var parentArn = $"arn:aws:iam::{_kms.AccountId}:user/admin";
        _inputKeyArn = await CreateKeyAsync(new EnclavePolicySettings(Measurements(EnclavePcr0), [parentArn]));
        _resultKeyArn = await CreateKeyAsync(EnclavePolicySettings.ForResultKey(Measurements(EnclavePcr0), [parentArn], [dataOwnerArn]));
        _image = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "data", "air-show.jpg"));
        _encryptedImage = await EncryptAsync(_image, new Dictionary<string, string>());
    }

    public async Task DisposeAsync()
    {
        _parent.Dispose();
        _dataOwner.Dispose();
        await _kms.DisposeAsync();
        _detector.Dispose();
        _keys.ForEach(k => k.Dispose());
        _chain.Dispose();
        Directory.Delete(_dataPath, recursive: true);
    }

    [Fact]
    public async Task The_parent_gets_only_ciphertexts_and_the_data_owner_reads_the_five_airplanes_and_the_annotated_image()
    {
        await using var server = StartServer(EnclavePcr0);

        var response = await DetectAsync(server, _encryptedImage, _resultKeyArn, annotate: true);

        Assert.DoesNotContain("airplane", Encoding.Latin1.GetString(response.EncryptedResult), StringComparison.Ordinal);
        Assert.True(response.Timings["encrypt"] > 0 && response.Timings["annotate"] > 0);
        var (document, context) = await OpenAsync(_dataOwner, response.EncryptedResult);
        Assert.Equal(ConfidentialResultFormat.ResultContent, context[ConfidentialResultFormat.ContentKey]);
        Assert.Equal(InputName, context[ConfidentialResultFormat.InputNameKey]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_encryptedImage)), context[ConfidentialResultFormat.InputSha256Key]);
        using var json = JsonDocument.Parse(document);
        Assert.Equal(ConfidentialResultFormat.FormatName, json.RootElement.GetProperty("format").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("version").GetInt32());
        Assert.Equal((3994, 3235), (json.RootElement.GetProperty("imageWidth").GetInt32(), json.RootElement.GetProperty("imageHeight").GetInt32()));
        var labels = json.RootElement.GetProperty("objects").EnumerateArray().Select(o => o.GetProperty("label").GetString()).ToList();
        Assert.Equal(Enumerable.Repeat("airplane", 5), labels);

        var (jpeg, imageContext) = await OpenAsync(_dataOwner, response.EncryptedAnnotatedImage!);
        Assert.Equal(ConfidentialResultFormat.AnnotatedImageContent, imageContext[ConfidentialResultFormat.ContentKey]);
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        var decoded = ImageDecoder.Decode(jpeg);
        Assert.Equal((3994, 3235), (decoded.Width, decoded.Height));
    }

    [Fact]
    public async Task The_parent_cannot_decrypt_the_result_it_carried()
    {
        await using var server = StartServer(EnclavePcr0);
        var response = await DetectAsync(server, _encryptedImage, _resultKeyArn, annotate: false);

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => OpenAsync(_parent, response.EncryptedResult));

        Assert.Equal(EnvelopeErrors.KmsAccessDenied, error.ErrorId);
        Assert.Null(response.EncryptedAnnotatedImage);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a key")]
    [InlineData("alias/")]
    [InlineData("alias/aws/ebs")]
    [InlineData("alias/results\n")]
    [InlineData("arn:aws:kms:us-east-1:111122223333:key/not-a-key-id")]
    [InlineData("arn:aws:kms:us-east-1:1111:alias/results")]
    [InlineData("1234abcd-12ab-34cd-56ef-1234567890ab/../x")]
    public async Task A_malformed_result_key_id_is_BadRequest(string keyId)
    {
        await using var server = StartServer(EnclavePcr0);

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => DetectAsync(server, _encryptedImage, keyId, annotate: false));

        Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
        Assert.Contains("result.keyId", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("../air-show.jpg.enc")]
    [InlineData("photos/air-show.jpg.enc")]
    [InlineData("..")]
    [InlineData("air-show\u0000.jpg.enc")]
    public async Task An_input_name_that_is_not_a_plain_file_name_is_BadRequest(string inputName)
    {
        await using var server = StartServer(EnclavePcr0);
        var request = new DetectRequest
        {
            EncryptedFile = _encryptedImage,
            Credentials = _credentials,
            Result = new ConfidentialResultRequest { KeyId = _resultKeyArn, InputName = inputName },
        };

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => server.Client(TimeSpan.FromSeconds(60)).DetectConfidentialAsync(request, CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.BadRequest, error.Code);
    }

    [Fact]
    public async Task A_result_key_that_denies_this_enclave_fails_the_request_with_KmsAccessDenied_and_nothing_else_comes_back()
    {
        var parentArn = $"arn:aws:iam::{_kms.AccountId}:user/admin";
        var elsewhere = await CreateKeyAsync(EnclavePolicySettings.ForResultKey(Measurements(OtherPcr0), [parentArn], [$"arn:aws:iam::{_kms.AccountId}:role/DataOwner"]));
        await using var server = StartServer(EnclavePcr0);

        var denied = await Assert.ThrowsAsync<EnclaveProtocolException>(() => DetectAsync(server, _encryptedImage, elsewhere, annotate: false));
        var missing = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            DetectAsync(server, _encryptedImage, $"arn:aws:kms:{_kms.Region}:{_kms.AccountId}:key/{Guid.NewGuid():D}", annotate: false));

        Assert.Equal(ProtocolErrorCodes.KmsAccessDenied, denied.Code);
        Assert.Equal(ProtocolErrorCodes.KmsError, missing.Code);
        Assert.DoesNotContain("airplane", denied.Message + missing.Message + server.Log, StringComparison.Ordinal);
        Assert.NotNull(await server.Client().DescribeAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_result_key_the_parent_controls_gets_the_result_unless_the_data_owner_pinned_the_result_key_in_the_input()
    {
        // The parent's own key, with the account's default policy: the enclave cannot tell it from the data owner's.
        var parentsKey = (await _parent.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.Arn;
        await using var server = StartServer(EnclavePcr0);
        var unpinned = await DetectAsync(server, _encryptedImage, parentsKey, annotate: false);
        var (document, _) = await OpenAsync(_parent, unpinned.EncryptedResult);
        Assert.Contains("airplane", Encoding.UTF8.GetString(document), StringComparison.Ordinal);

        var pinnedInput = await EncryptAsync(_image, new Dictionary<string, string> { [ConfidentialResultFormat.RequiredResultKeyKey] = _resultKeyArn });
        var toParentsKey = await Assert.ThrowsAsync<EnclaveProtocolException>(() => DetectAsync(server, pinnedInput, parentsKey, annotate: true));
        var open = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            server.Client(TimeSpan.FromSeconds(60)).DetectAsync(new DetectRequest { EncryptedFile = pinnedInput, Credentials = _credentials }, CancellationToken.None));
        var byAlias = await Assert.ThrowsAsync<EnclaveProtocolException>(() => DetectAsync(server, pinnedInput, "alias/results", annotate: false));

        Assert.All([toParentsKey, open, byAlias], e => Assert.Equal(ProtocolErrorCodes.ConfidentialResultRequired, e.Code));
        var pinned = await DetectAsync(server, pinnedInput, _resultKeyArn, annotate: false);
        Assert.Contains("airplane", Encoding.UTF8.GetString((await OpenAsync(_dataOwner, pinned.EncryptedResult)).Plaintext), StringComparison.Ordinal);
    }

    private AmazonKeyManagementServiceClient Client(string accessKey, string secretKey) => new(
        new BasicAWSCredentials(accessKey, secretKey),
        new AmazonKeyManagementServiceConfig { ServiceURL = _kms.Endpoint.ToString(), AuthenticationRegion = _kms.Region, MaxErrorRetry = 0 });

    private static PinnedMeasurements Measurements(byte[] pcr0) => PinnedMeasurements.Create(Convert.ToHexStringLower(pcr0), null, null, null);

    /// <summary>A key with the account's default policy plus the project's statements, as Set-KmsEnclavePolicy writes them.</summary>
    private async Task<string> CreateKeyAsync(EnclavePolicySettings settings)
    {
        var arn = (await _parent.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.Arn;
        var policy = (await _parent.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = arn, PolicyName = "default" })).Policy;
        await _parent.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = arn, PolicyName = "default", Policy = EnclavePolicyEditor.Apply(policy, settings).PolicyText });
        return arn;
    }

    private async Task<byte[]> EncryptAsync(byte[] plaintext, Dictionary<string, string> context)
    {
        using var provider = new KmsDataKeyProvider(_parent);
        var output = new MemoryStream();
        await EnvelopeEncryptor.EncryptAsync(new MemoryStream(plaintext), output, provider, new EnvelopeEncryptOptions { KeyId = _inputKeyArn, EncryptionContext = context });
        return output.ToArray();
    }

    private static async Task<(byte[] Plaintext, IReadOnlyDictionary<string, string> Context)> OpenAsync(AmazonKeyManagementServiceClient client, byte[] message)
    {
        using var provider = new KmsDataKeyProvider(client);
        var plaintext = new MemoryStream();
        var result = await EnvelopeDecryptor.DecryptAsync(new MemoryStream(message), plaintext, provider);
        return (plaintext.ToArray(), result.EncryptionContext);
    }

    private TestServer StartServer(byte[] pcr0)
    {
        var nsm = new SecurityModuleAccess(new SimulatedNsm(_chain, new SimulatedNsmOptions().WithPcr(0, pcr0)));
        var keys = new RecipientKeys(nsm.AttestRecipientKey);
        _keys.Add(keys);
        var detection = new DetectionService(_detector, KmsRoute.Direct(_kms.Endpoint.ToString()), keys);
        // A 13-megapixel decode, detection, full-size drawing and two KMS calls: room for a loaded 2-core machine.
        return TestServer.Start(options => options.RequestTimeout = TimeSpan.FromSeconds(60), handler: description => new RequestHandler(description, nsm, detection));
    }

    private Task<ConfidentialDetectResponse> DetectAsync(TestServer server, byte[] file, string keyId, bool annotate) =>
        server.Client(TimeSpan.FromSeconds(90)).DetectConfidentialAsync(new DetectRequest
        {
            EncryptedFile = file,
            Credentials = _credentials,
            Result = new ConfidentialResultRequest { KeyId = keyId, InputName = InputName, Annotate = annotate },
        }, CancellationToken.None);
}
