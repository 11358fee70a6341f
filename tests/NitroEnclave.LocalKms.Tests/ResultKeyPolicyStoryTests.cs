using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Aws;
using NitroEnclave.Kms;
using NitroEnclave.KmsPolicy;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>
/// The result key's policy (Set-KmsEnclavePolicy -ResultKey -DataOwner) against the local KMS: the attested enclave,
/// calling with the parent's credentials, gets a data key only as CiphertextForRecipient; the parent gets no data key
/// and no ciphertext under the key by any other call (so it can neither read nor forge a result); only the data owner
/// decrypts.
/// </summary>
public sealed class ResultKeyPolicyStoryTests : IAsyncLifetime
{
    private const string ParentArn = "arn:aws:iam::111122223333:role/Parent";
    private const string DataOwnerArn = "arn:aws:iam::111122223333:role/DataOwner";

    private readonly SimulatedNsmChain _chain = SimulatedNsmChain.Create();
    private readonly RSA _enclaveKey = RSA.Create(2048);
    private readonly Dictionary<int, byte[]> _pcrs = new()
    {
        [0] = SHA384.HashData("image"u8), [1] = SHA384.HashData("kernel"u8), [2] = SHA384.HashData("application"u8),
    };

    private LocalKmsHost _host = null!;
    private AmazonKeyManagementServiceClient _parent = null!;
    private AmazonKeyManagementServiceClient _dataOwner = null!;
    private string _keyId = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync(trustedRoots: [_chain.Root]);
        var principals = LocalKmsData.OpenPrincipals(_host.DataPath);
        var parent = principals.Add(ParentArn);
        var owner = principals.Add(DataOwnerArn);
        _parent = _host.Client(parent.AccessKeyId, parent.SecretAccessKey);
        _dataOwner = _host.Client(owner.AccessKeyId, owner.SecretAccessKey);
        using var admin = _host.AdminClient();
        _keyId = (await admin.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        using var policies = new KmsKeyPolicyClient(new AwsConnectionSettings
        {
            AccessKey = _host.Server.AdminAccessKeyId,
            SecretKey = _host.Server.AdminSecretAccessKey,
            Region = _host.Server.Region,
            EndpointUrl = _host.Server.Endpoint.ToString(),
        });
        var measurements = PinnedMeasurements.Create(Hex(_pcrs[0]), Hex(_pcrs[1]), Hex(_pcrs[2]), null);
        var plan = await policies.PlanAsync(_keyId, EnclavePolicySettings.ForResultKey(measurements, [ParentArn], [DataOwnerArn]));
        Assert.Empty(plan.LockedOut);
        await policies.PutAsync(plan, bypassLockoutCheck: false);
    }

    public async Task DisposeAsync()
    {
        _parent.Dispose();
        _dataOwner.Dispose();
        await _host.DisposeAsync();
        _enclaveKey.Dispose();
        _chain.Dispose();
    }

    private static string Hex(byte[] value) => Convert.ToHexStringLower(value);

    private RecipientInfo Recipient(IReadOnlyDictionary<int, byte[]> pcrs)
    {
        var options = new SimulatedNsmOptions();
        foreach (var (index, value) in pcrs)
        {
            options.WithPcr(index, value);
        }

        using var nsm = new SimulatedNsm(_chain, options);
        return new RecipientInfo
        {
            AttestationDocument = new MemoryStream(nsm.Attestation(publicKey: _enclaveKey.ExportSubjectPublicKeyInfo())),
            KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256,
        };
    }

    private Task<GenerateDataKeyResponse> GenerateAsync(RecipientInfo? recipient) =>
        _parent.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = _keyId, KeySpec = DataKeySpec.AES_256, Recipient = recipient });

    private static async Task AssertDeniedAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(call);
        Assert.Equal("AccessDeniedException", error.ErrorCode);
    }

    [Fact]
    public async Task The_attested_enclave_gets_the_data_key_sealed_to_it_and_only_the_data_owner_decrypts_its_blob()
    {
        var response = await GenerateAsync(Recipient(_pcrs));

        Assert.Null(response.Plaintext);
        var dataKey = RecipientEnvelope.Open(response.CiphertextForRecipient.ToArray(), _enclaveKey);
        Assert.Equal(32, dataKey.Length);
        var decrypted = await _dataOwner.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(response.CiphertextBlob.ToArray()) });
        Assert.Equal(dataKey, decrypted.Plaintext.ToArray());
        await AssertDeniedAsync(() => _parent.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(response.CiphertextBlob.ToArray()) }));
    }

    [Fact]
    public async Task The_parent_without_Recipient_is_denied_a_data_key()
    {
        await AssertDeniedAsync(() => GenerateAsync(null));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task An_enclave_with_another_PCR_is_denied_a_data_key(int index)
    {
        var other = new Dictionary<int, byte[]>(_pcrs) { [index] = SHA384.HashData("other"u8) };

        await AssertDeniedAsync(() => GenerateAsync(Recipient(other)));
    }

    [Fact]
    public async Task The_parent_can_make_no_ciphertext_under_the_key_so_it_cannot_forge_a_result()
    {
        await AssertDeniedAsync(() => _parent.EncryptAsync(new EncryptRequest { KeyId = _keyId, Plaintext = new MemoryStream(new byte[32]) }));
        await AssertDeniedAsync(() => _parent.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = _keyId, KeySpec = DataKeySpec.AES_256 }));
        // Not even the data owner makes one: a result under this key always comes from the attested enclave.
        await AssertDeniedAsync(() => _dataOwner.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = _keyId, KeySpec = DataKeySpec.AES_256 }));
    }

    [Fact]
    public async Task Nobody_but_the_data_owner_decrypts_even_with_the_accounts_own_access()
    {
        var blob = (await GenerateAsync(Recipient(_pcrs))).CiphertextBlob.ToArray();
        using var admin = _host.AdminClient();

        await AssertDeniedAsync(() => admin.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(blob) }));
        Assert.NotNull((await _dataOwner.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(blob) })).Plaintext);
    }
}
