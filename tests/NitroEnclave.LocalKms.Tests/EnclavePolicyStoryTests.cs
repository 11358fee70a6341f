using System.Security.Cryptography;
using System.Text;
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
/// The policy Set-KmsEnclavePolicy writes (through the Core client it calls) against the local KMS, with attestation
/// documents from the simulated NSM: the enclave with the pinned PCRs reads the answer, the parent and every other
/// enclave are denied, and the reference sample's PCR0-only policy is shown to be weaker.
/// </summary>
public sealed class EnclavePolicyStoryTests : IAsyncLifetime
{
    private const string ParentArn = "arn:aws:iam::111122223333:role/Parent";
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("model decryption key");

    private readonly SimulatedNsmChain _chain = SimulatedNsmChain.Create();
    private readonly RSA _enclaveKey = RSA.Create(2048);
    private readonly Dictionary<int, byte[]> _pcrs = new()
    {
        [0] = SHA384.HashData("image"u8), [1] = SHA384.HashData("kernel"u8), [2] = SHA384.HashData("application"u8), [8] = SHA384.HashData("signer"u8),
    };

    private LocalKmsHost _host = null!;
    private AmazonKeyManagementServiceClient _parent = null!;
    private string _keyId = null!;
    private MemoryStream _ciphertext = null!;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync(trustedRoots: [_chain.Root]);
        var parent = LocalKmsData.OpenPrincipals(_host.DataPath).Add(ParentArn);
        _parent = _host.Client(parent.AccessKeyId, parent.SecretAccessKey);
        using var admin = _host.AdminClient();
        _keyId = (await admin.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        _ciphertext = (await _parent.EncryptAsync(new EncryptRequest { KeyId = _keyId, Plaintext = new MemoryStream(Secret) })).CiphertextBlob;
    }

    public async Task DisposeAsync()
    {
        _parent.Dispose();
        await _host.DisposeAsync();
        _enclaveKey.Dispose();
        _chain.Dispose();
    }

    private static string Hex(byte[] value) => Convert.ToHexStringLower(value);

    /// <summary>What Set-KmsEnclavePolicy does, as the administrator: plan the edit, check for lockout, write.</summary>
    private async Task SetPolicyAsync(Dictionary<int, byte[]> pcrs)
    {
        using var policies = new KmsKeyPolicyClient(new AwsConnectionSettings
        {
            AccessKey = _host.Server.AdminAccessKeyId,
            SecretKey = _host.Server.AdminSecretAccessKey,
            Region = _host.Server.Region,
            EndpointUrl = _host.Server.Endpoint.ToString(),
        });
        var measurements = PinnedMeasurements.Create(Hex(pcrs[0]), Hex(pcrs[1]), Hex(pcrs[2]), Hex(pcrs[8]));
        var plan = await policies.PlanAsync(_keyId, new EnclavePolicySettings(measurements, [ParentArn]));
        Assert.Empty(plan.LockedOut);
        await policies.PutAsync(plan, bypassLockoutCheck: false);
    }

    private Task<DecryptResponse> DecryptAsync(IReadOnlyDictionary<int, byte[]>? enclavePcrs)
    {
        RecipientInfo? recipient = null;
        if (enclavePcrs is not null)
        {
            var options = new SimulatedNsmOptions();
            foreach (var (index, value) in enclavePcrs)
            {
                options.WithPcr(index, value);
            }

            using var nsm = new SimulatedNsm(_chain, options);
            recipient = new RecipientInfo
            {
                AttestationDocument = new MemoryStream(nsm.Attestation(publicKey: _enclaveKey.ExportSubjectPublicKeyInfo())),
                KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256,
            };
        }

        return _parent.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(_ciphertext.ToArray()), Recipient = recipient });
    }

    private static async Task AssertDeniedAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(call);
        Assert.Equal("AccessDeniedException", error.ErrorCode);
    }

    [Fact]
    public async Task Before_the_policy_the_parent_decrypts_and_afterwards_only_the_enclave_does()
    {
        Assert.Equal(Secret, (await DecryptAsync(null)).Plaintext.ToArray());

        await SetPolicyAsync(_pcrs);

        var response = await DecryptAsync(_pcrs);
        Assert.Null(response.Plaintext);
        Assert.Equal(Secret, RecipientEnvelope.Open(response.CiphertextForRecipient.ToArray(), _enclaveKey));
        await AssertDeniedAsync(() => DecryptAsync(null));
    }

    [Fact]
    public async Task With_other_PCRs_pinned_the_enclave_and_the_parent_are_both_denied()
    {
        var other = _pcrs.ToDictionary(p => p.Key, p => SHA384.HashData(p.Value));

        await SetPolicyAsync(other);

        await AssertDeniedAsync(() => DecryptAsync(_pcrs));
        await AssertDeniedAsync(() => DecryptAsync(null));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public async Task An_enclave_differing_in_one_PCR_is_denied(int index)
    {
        await SetPolicyAsync(_pcrs);
        var almost = new Dictionary<int, byte[]>(_pcrs) { [index] = SHA384.HashData("tampered"u8) };

        await AssertDeniedAsync(() => DecryptAsync(almost));
    }

    [Fact]
    public async Task ReEncrypt_is_denied_so_the_ciphertext_cannot_be_moved_to_a_key_without_the_conditions()
    {
        using var admin = _host.AdminClient();
        var otherKey = (await admin.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        await SetPolicyAsync(_pcrs);

        await AssertDeniedAsync(() => _parent.ReEncryptAsync(new ReEncryptRequest { CiphertextBlob = new MemoryStream(_ciphertext.ToArray()), DestinationKeyId = otherKey }));
    }

    [Fact]
    public async Task The_reference_samples_PCR0_only_deny_lets_a_different_application_through()
    {
        // The sample's policy: the account may do everything; Decrypt is denied unless PCR0 matches.
        var weak = $$$$"""
            {"Version": "2012-10-17", "Statement": [
              {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
              {"Sid": "PCR0", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
               "Condition": {"StringNotEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{{Hex(_pcrs[0])}}}}"}}}
            ]}
            """;
        using var admin = _host.AdminClient();
        await admin.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = _keyId, PolicyName = "default", Policy = weak });
        var otherApplication = new Dictionary<int, byte[]>(_pcrs) { [2] = SHA384.HashData("other application"u8) };

        Assert.NotNull((await DecryptAsync(otherApplication)).CiphertextForRecipient);

        await SetPolicyAsync(_pcrs);
        await AssertDeniedAsync(() => DecryptAsync(otherApplication));
    }
}
