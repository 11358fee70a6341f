using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Attestation;
using NitroEnclave.Envelope;
using NitroEnclave.Kms;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests.Attacks;

/// <summary>
/// The parent tries to have KMS seal the data owner's data key to a key pair of its own. The attack that once worked:
/// ask the enclave to attest the parent's RSA key, send that genuine document as the KMS Recipient, open the answer.
/// Every variant must end without plaintext, and the server must keep serving.
/// </summary>
public sealed partial class KeySubstitutionAttackTests(HostileParentFixture parent) : IClassFixture<HostileParentFixture>
{
    [Fact]
    public async Task Asking_the_enclave_to_attest_the_parents_key_is_refused_and_the_file_stays_closed()
    {
        using var parentKey = RSA.Create(2048);
        var spki = parentKey.ExportSubjectPublicKeyInfo();

        var refused = await Assert.ThrowsAsync<EnclaveProtocolException>(async () =>
            ProtocolCodec.DecodeAttestResponse(await parent.SendRawAsync(AttestPayload(("nonce", new byte[32]), ("publicKey", spki)))));
        Assert.Equal(ProtocolErrorCodes.BadRequest, refused.Code);

        // The nearest the parent can get: its key in user_data of a genuine document. KMS seals to public_key only.
        var document = await parent.Client().AttestAsync(new AttestRequest { Nonce = new byte[32], UserData = spki }, CancellationToken.None);
        var parsed = AttestationDocument.Parse(document);
        Assert.Null(parsed.PublicKey);
        Assert.Equal(spki, parsed.UserData);

        var attack = await Assert.ThrowsAnyAsync<Exception>(() => DecryptAsTheParent(document, parentKey));
        Assert.IsNotType<ParentObtainedPlaintextException>(attack);
        Assert.True(parent.ServerIsRunning);
    }

    [Fact]
    public async Task A_document_captured_from_the_servers_own_KMS_call_yields_only_a_key_the_parent_cannot_open()
    {
        var detection = await parent.Client().DetectAsync(
            new DetectRequest { EncryptedFile = parent.EncryptedImage, Credentials = parent.ParentCredentials }, CancellationToken.None);
        Assert.Equal(5, detection.Objects.Count(o => o.Label == "airplane"));
        var captured = CapturedDocuments(parent.KmsTraffic.SentText());
        Assert.NotEmpty(captured);
        using var parentKey = RSA.Create(2048);

        foreach (var document in captured)
        {
            var enclaveKey = AttestationDocument.Parse(document).PublicKey;
            Assert.NotNull(enclaveKey);

            // KMS accepts the replayed genuine document and seals the data key to the enclave's key, not the parent's.
            var sealedKey = await RecipientCiphertext(document);
            Assert.True(sealedKey.AsSpan().IndexOf(RecipientEnvelope.SubjectKeyIdentifier(enclaveKey)) >= 0);
            Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open(sealedKey, parentKey));
        }
    }

    public static TheoryData<string, byte[]> RequestsNamingAKey() => new()
    {
        { "Attest publicKey", AttestPayload(("publicKey", new byte[294])) },
        { "Attest public_key", AttestPayload(("public_key", new byte[294])) },
        { "Attest PublicKey", AttestPayload(("PublicKey", new byte[294])) },
        { "Attest recipient", AttestPayload(("recipient", new byte[294])) },
        { "Describe publicKey", Payload("Describe", ("publicKey", new byte[294])) },
        { "Detect publicKey", Payload("Detect", ("file", new byte[16]), ("aws", AwsMap()), ("publicKey", new byte[294])) },
        { "Detect recipient", Payload("Detect", ("file", new byte[16]), ("aws", AwsMap()), ("recipient", new byte[294])) },
        { "Detect options.publicKey", Payload("Detect", ("file", new byte[16]), ("aws", AwsMap()), ("options", new Dictionary<string, object> { ["publicKey"] = new byte[294] })) },
    };

    [Theory]
    [MemberData(nameof(RequestsNamingAKey))]
    public async Task No_operation_accepts_a_key_from_the_caller(string why, byte[] payload)
    {
        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(async () => ProtocolCodec.DecodeAttestResponse(await parent.SendRawAsync(payload)));

        Assert.True(error.Code == ProtocolErrorCodes.BadRequest, why);
        Assert.NotNull(await parent.Client().DescribeAsync(CancellationToken.None));
    }

    /// <summary>The attack as the parent would run it: KMS Decrypt with the given document as Recipient, opened with its key.</summary>
    private async Task DecryptAsTheParent(byte[] document, RSA parentKey)
    {
        var output = new MemoryStream();
        await EnvelopeDecryptor.DecryptAsync(new MemoryStream(parent.EncryptedImage), output, new RecipientOfTheParent(parent.Parent, document, parentKey));
        throw new ParentObtainedPlaintextException(output.Length);
    }

    private async Task<byte[]> RecipientCiphertext(byte[] document)
    {
        var capture = new RecipientOfTheParent(parent.Parent, document, parentKey: null);
        await Assert.ThrowsAsync<KmsAnswerRecordedException>(() =>
            EnvelopeDecryptor.DecryptAsync(new MemoryStream(parent.EncryptedImage), new MemoryStream(), capture));
        return capture.LastCiphertextForRecipient!;
    }

    private static List<byte[]> CapturedDocuments(string traffic) =>
        AttestationDocumentField().Matches(traffic).Select(m => Convert.FromBase64String(m.Groups[1].Value)).ToList();

    [GeneratedRegex("\"AttestationDocument\"\\s*:\\s*\"([A-Za-z0-9+/=]+)\"")]
    private static partial Regex AttestationDocumentField();

    private static byte[] AttestPayload(params (string Name, object Value)[] fields) => Payload("Attest", fields);

    private static Dictionary<string, object> AwsMap() => new()
    {
        ["accessKeyId"] = "AKIDEXAMPLE",
        ["secretAccessKey"] = "secret",
        ["region"] = "us-east-1",
    };

    private static byte[] Payload(string operation, params (string Name, object Value)[] fields)
    {
        var w = new CborWriter();
        w.WriteStartMap(null);
        w.WriteTextString("v");
        w.WriteInt32(EnclaveProtocol.Version);
        w.WriteTextString("op");
        w.WriteTextString(operation);
        foreach (var (name, value) in fields)
        {
            w.WriteTextString(name);
            Write(w, value);
        }

        w.WriteEndMap();
        return w.Encode();

        static void Write(CborWriter w, object value)
        {
            switch (value)
            {
                case byte[] bytes:
                    w.WriteByteString(bytes);
                    break;
                case string text:
                    w.WriteTextString(text);
                    break;
                case Dictionary<string, object> map:
                    w.WriteStartMap(map.Count);
                    foreach (var (key, item) in map)
                    {
                        w.WriteTextString(key);
                        Write(w, item);
                    }

                    w.WriteEndMap();
                    break;
            }
        }
    }

    /// <summary>Thrown only if the parent got the plaintext: the one outcome every test here rules out.</summary>
    private sealed class ParentObtainedPlaintextException(long bytes) : Exception($"The parent decrypted {bytes} bytes of the data owner's file.");

    /// <summary>Stops a decryption once KMS has answered, when only the answer is wanted.</summary>
    private sealed class KmsAnswerRecordedException() : Exception("KMS answered; the answer is recorded.");

    /// <summary>KMS Decrypt with Recipient from the parent's side; with no key, it records the answer and stops.</summary>
    private sealed class RecipientOfTheParent(IAmazonKeyManagementService kms, byte[] document, RSA? parentKey) : IDataKeyDecryptor
    {
        public byte[]? LastCiphertextForRecipient { get; private set; }

        public async Task<byte[]> DecryptDataKeyAsync(EncryptedDataKey encryptedDataKey, IReadOnlyDictionary<string, string> encryptionContext, CancellationToken cancellationToken)
        {
            var response = await kms.DecryptAsync(new DecryptRequest
            {
                CiphertextBlob = new MemoryStream(encryptedDataKey.Ciphertext),
                EncryptionContext = new Dictionary<string, string>(encryptionContext),
                Recipient = new RecipientInfo { AttestationDocument = new MemoryStream(document), KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256 },
            }, cancellationToken);
            LastCiphertextForRecipient = response.CiphertextForRecipient.ToArray();
            return parentKey is null ? throw new KmsAnswerRecordedException() : RecipientEnvelope.Open(LastCiphertextForRecipient, parentKey);
        }
    }
}
