using System.Security.Cryptography;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Kms;
using NitroEnclave.LocalKms.Keys;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>
/// The enclave story end to end: a key whose policy releases plaintext only to an enclave measuring PCR0 = X.
/// A simulated enclave proves it with an attestation document (SimulatedNsm), KMS answers in a CMS envelope for the
/// enclave's RSA key, and the enclave-side decoder recovers the plaintext. Everything else is denied.
/// </summary>
public sealed class EnclaveStoryTests : IAsyncLifetime
{
    private static readonly byte[] PcrX = SHA384.HashData("enclave image X"u8);
    private static readonly byte[] PcrY = SHA384.HashData("enclave image Y"u8);
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("model decryption key");
    private static readonly Dictionary<string, string> Context = new() { ["model"] = "detector" };

    // Issued an hour ago, so the chain is valid at documents dated minutes before or after now: only their age decides.
    private readonly SimulatedNsmChain _chain = SimulatedNsmChain.Create(timeProvider: new OffsetClock(TimeSpan.FromHours(-1)));
    private readonly RSA _enclaveKey = RSA.Create(2048);
    private LocalKmsHost _host = null!;
    private AmazonKeyManagementServiceClient _admin = null!;
    private AmazonKeyManagementServiceClient _parent = null!;
    private string _keyId = null!;
    private MemoryStream _ciphertext = null!;

    private static string Hex(byte[] value) => Convert.ToHexStringLower(value);

    /// <summary>AWS's recommended shape: allow Decrypt with the measurement, and deny it to anything else (the parent included).</summary>
    private static string EnclavePolicy() => $$$"""
        {
          "Version": "2012-10-17",
          "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/admin"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "ParentMayEncrypt", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Parent"},
             "Action": ["kms:Encrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"], "Resource": "*"},
            {"Sid": "EnclaveMayDecrypt", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Parent"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
             "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{Hex(PcrX).ToUpperInvariant()}}}", "kms:RecipientAttestation:ImageSha384": "{{{Hex(PcrX)}}}"} } },
            {"Sid": "OnlyTheEnclave", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
             "Condition": {"StringNotEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{Hex(PcrX)}}}"} } }
          ]
        }
        """;

    public async Task InitializeAsync()
    {
        _host = await LocalKmsHost.StartAsync(trustedRoots: [_chain.Root]);
        _admin = _host.AdminClient();
        var parent = LocalKmsData.OpenPrincipals(_host.DataPath).Add("arn:aws:iam::111122223333:role/Parent");
        _parent = _host.Client(parent.AccessKeyId, parent.SecretAccessKey);
        _keyId = (await _admin.CreateKeyAsync(new CreateKeyRequest { Policy = EnclavePolicy() })).KeyMetadata.KeyId;
        var encrypted = await _parent.EncryptAsync(new EncryptRequest { KeyId = _keyId, Plaintext = new MemoryStream(Secret), EncryptionContext = Context });
        _ciphertext = encrypted.CiphertextBlob;
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        _parent.Dispose();
        await _host.DisposeAsync();
        _enclaveKey.Dispose();
        _chain.Dispose();
    }

    private RecipientInfo Attest(byte[] pcr0, bool debug = false, SimulatedNsmChain? chain = null, TimeProvider? clock = null, byte[]? publicKey = null)
    {
        var options = new SimulatedNsmOptions { DebugMode = debug, TimeProvider = clock }.WithPcr(0, pcr0);
        using var nsm = new SimulatedNsm(chain ?? _chain, options);
        return new RecipientInfo
        {
            AttestationDocument = new MemoryStream(nsm.Attestation(publicKey: publicKey ?? _enclaveKey.ExportSubjectPublicKeyInfo())),
            KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256,
        };
    }

    private DecryptRequest DecryptWith(RecipientInfo? recipient, Dictionary<string, string>? context = null, MemoryStream? blob = null) => new()
    {
        CiphertextBlob = new MemoryStream((blob ?? _ciphertext).ToArray()),
        EncryptionContext = context ?? Context,
        Recipient = recipient,
    };

    private static async Task AssertDeniedAsync(Func<Task> call, string expectedInMessage)
    {
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(call);
        Assert.Equal("AccessDeniedException", error.ErrorCode);
        Assert.True(error.Message.Contains(expectedInMessage, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public async Task The_enclave_with_PCR0_X_decrypts_through_Recipient_and_only_it_can_read_the_answer()
    {
        var response = await _parent.DecryptAsync(DecryptWith(Attest(PcrX)));

        Assert.Null(response.Plaintext);
        Assert.Equal($"arn:aws:kms:us-east-1:111122223333:key/{_keyId}", response.KeyId);
        var envelope = response.CiphertextForRecipient.ToArray();
        Assert.Equal(Secret, RecipientEnvelope.Open(envelope, _enclaveKey));
        using var someoneElse = RSA.Create(2048);
        Assert.Equal(KmsErrors.EnvelopeWrongRecipient, Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open(envelope, someoneElse)).ErrorId);
    }

    [Fact]
    public async Task The_parent_without_Recipient_is_denied_by_the_StringNotEquals_deny()
    {
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(null)), "with an explicit deny");
        await AssertDeniedAsync(() => _admin.DecryptAsync(DecryptWith(null)), "with an explicit deny");
    }

    [Fact]
    public async Task An_enclave_measuring_PCR0_Y_is_denied()
    {
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(Attest(PcrY))), "kms:Decrypt");
    }

    [Fact]
    public async Task A_debug_mode_document_reads_all_zero_PCRs_and_is_denied()
    {
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX, debug: true))), "kms:Decrypt");
    }

    [Fact]
    public async Task An_expired_document_is_denied()
    {
        var tenMinutesAgo = new OffsetClock(TimeSpan.FromMinutes(-10));
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX, clock: tenMinutesAgo))), "exceeded the 5-minute age limit");
    }

    [Fact]
    public async Task A_document_is_fresh_for_five_minutes_and_within_five_minutes_of_clock_skew()
    {
        foreach (var accepted in new[] { -4, 4 })
        {
            var response = await _parent.DecryptAsync(DecryptWith(Attest(PcrX, clock: new OffsetClock(TimeSpan.FromMinutes(accepted)))));
            Assert.Equal(Secret, RecipientEnvelope.Open(response.CiphertextForRecipient.ToArray(), _enclaveKey));
        }

        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX, clock: new OffsetClock(TimeSpan.FromMinutes(-6))))), "exceeded the 5-minute age limit");
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX, clock: new OffsetClock(TimeSpan.FromMinutes(6))))), "dated ahead of this endpoint's clock");
    }

    public static TheoryData<string, string> UnusableRecipientKeys() => new()
    {
        { "rsa512", "RSA-512" },
        { "rsa1024", "RSA-1024" },
        { "trailing", "1 bytes after its SubjectPublicKeyInfo" },
        { "ec", "not an RSA SubjectPublicKeyInfo" },
        { "garbage", "not an RSA SubjectPublicKeyInfo" },
    };

    [Theory]
    [MemberData(nameof(UnusableRecipientKeys))]
    public async Task A_public_key_that_is_not_a_single_RSA_key_of_2048_bits_or_more_is_a_ValidationException(string kind, string expected)
    {
        byte[] Rsa(int bits)
        {
            using var rsa = RSA.Create(bits);
            return rsa.ExportSubjectPublicKeyInfo();
        }

        var publicKey = kind switch
        {
            "rsa512" => Rsa(512),
            "rsa1024" => Rsa(1024),
            "trailing" => [.. _enclaveKey.ExportSubjectPublicKeyInfo(), 0],
            "ec" => ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfo(),
            _ => [0x30, 0x03, 0x02, 0x01, 0x00],
        };
        foreach (var call in new Func<Task>[]
        {
            () => _parent.DecryptAsync(DecryptWith(Attest(PcrX, publicKey: publicKey))),
            () => _parent.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = _keyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = Context, Recipient = Attest(PcrX, publicKey: publicKey) }),
            () => _parent.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 8, Recipient = Attest(PcrX, publicKey: publicKey) }),
        })
        {
            var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(call);
            Assert.Equal(("ValidationException", System.Net.HttpStatusCode.BadRequest), (error.ErrorCode, error.StatusCode));
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_document_from_an_untrusted_root_is_denied()
    {
        using var otherChain = SimulatedNsmChain.Create();
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX, chain: otherChain))), "not valid");
    }

    [Fact]
    public async Task A_tampered_document_is_denied_and_garbage_is_a_ValidationException()
    {
        var recipient = Attest(PcrX);
        var document = recipient.AttestationDocument.ToArray();
        document[^10] ^= 1; // inside the signature
        recipient.AttestationDocument = new MemoryStream(document);
        await AssertDeniedAsync(() => _parent.DecryptAsync(DecryptWith(recipient)), "not valid");

        var garbage = new RecipientInfo { AttestationDocument = new MemoryStream([1, 2, 3]), KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256 };
        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => _parent.DecryptAsync(DecryptWith(garbage)));
        Assert.Equal("ValidationException", error.ErrorCode);
    }

    [Fact]
    public async Task Tampered_ciphertext_and_a_wrong_context_are_InvalidCiphertextException_even_for_the_enclave()
    {
        var tampered = _ciphertext.ToArray();
        tampered[^1] ^= 1;
        await Assert.ThrowsAsync<InvalidCiphertextException>(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX), blob: new MemoryStream(tampered))));
        await Assert.ThrowsAsync<InvalidCiphertextException>(() => _parent.DecryptAsync(DecryptWith(Attest(PcrX), context: new() { ["model"] = "other" })));
    }

    [Fact]
    public async Task GenerateDataKey_with_Recipient_returns_the_key_only_for_the_enclave()
    {
        var response = await _parent.GenerateDataKeyAsync(new GenerateDataKeyRequest
        {
            KeyId = _keyId,
            KeySpec = DataKeySpec.AES_256,
            EncryptionContext = Context,
            Recipient = Attest(PcrX),
        });
        Assert.Null(response.Plaintext);
        var dataKey = RecipientEnvelope.Open(response.CiphertextForRecipient.ToArray(), _enclaveKey);
        Assert.Equal(32, dataKey.Length);

        var again = await _parent.DecryptAsync(DecryptWith(Attest(PcrX), blob: response.CiphertextBlob));
        Assert.Equal(dataKey, RecipientEnvelope.Open(again.CiphertextForRecipient.ToArray(), _enclaveKey));

        await AssertDeniedAsync(() => _parent.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = _keyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = Context }), "explicit deny");
    }

    [Fact]
    public async Task GenerateRandom_with_Recipient_returns_bytes_only_the_enclave_can_read()
    {
        var response = await _parent.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 48, Recipient = Attest(PcrX) });
        Assert.Null(response.Plaintext);
        Assert.Equal(48, RecipientEnvelope.Open(response.CiphertextForRecipient.ToArray(), _enclaveKey).Length);
    }

    [Fact]
    public async Task A_server_that_trusts_no_root_refuses_every_Recipient()
    {
        await using var untrusting = await LocalKmsHost.StartAsync();
        using var kms = untrusting.AdminClient();
        await AssertDeniedAsync(() => kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 8, Recipient = Attest(PcrX) }), "trusts no attestation root");
    }

    private sealed class OffsetClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow + offset;
    }
}
