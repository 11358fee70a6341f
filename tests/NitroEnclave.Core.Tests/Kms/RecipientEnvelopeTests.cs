using System.Security.Cryptography;
using System.Text;
using NitroEnclave.Kms;

namespace NitroEnclave.Tests.Kms;

public sealed class RecipientEnvelopeTests
{
    private static readonly string DataDirectory = Path.Combine(AppContext.BaseDirectory, "data", "kms-recipient");

    private static RSA SampleKey()
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(File.ReadAllText(Path.Combine(DataDirectory, "recipient-private-key.pem")));
        return rsa;
    }

    private static byte[] SampleEnvelope() => File.ReadAllBytes(Path.Combine(DataDirectory, "ciphertext-for-recipient.der"));

    [Fact]
    public void Open_decrypts_a_real_KMS_CiphertextForRecipient()
    {
        using var key = SampleKey();
        var plaintext = RecipientEnvelope.Open(SampleEnvelope(), key);
        Assert.Equal(File.ReadAllText(Path.Combine(DataDirectory, "expected-plaintext.txt")), Encoding.UTF8.GetString(plaintext));
        Assert.Equal("Hello, World", Encoding.UTF8.GetString(plaintext));
    }

    [Fact]
    public void Seal_writes_the_same_layout_as_KMS_byte_for_byte_apart_from_the_random_parts()
    {
        using var key = SampleKey();
        var real = SampleEnvelope();
        var ours = RecipientEnvelope.Seal("Hello, World"u8, key.ExportSubjectPublicKeyInfo());

        Assert.Equal(real.Length, ours.Length);
        // Random per envelope: the wrapped content key (131..386), the IV (415..430) and the ciphertext (435..450).
        var random = new[] { (131, 387), (415, 431), (435, 451) };
        for (var i = 0; i < real.Length; i++)
        {
            if (!random.Any(r => i >= r.Item1 && i < r.Item2))
            {
                Assert.True(real[i] == ours[i], $"byte {i}: KMS wrote {real[i]:x2}, Seal wrote {ours[i]:x2}");
            }
        }

        Assert.Equal("Hello, World", Encoding.UTF8.GetString(RecipientEnvelope.Open(ours, key)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    public void Seal_and_Open_round_trip(int length)
    {
        using var key = RSA.Create(2048);
        var plaintext = RandomNumberGenerator.GetBytes(length);
        Assert.Equal(plaintext, RecipientEnvelope.Open(RecipientEnvelope.Seal(plaintext, key.ExportSubjectPublicKeyInfo()), key));
    }

    [Fact]
    public void The_recipient_identifier_is_the_SHA256_of_the_public_key_info()
    {
        using var key = SampleKey();
        var identifier = RecipientEnvelope.SubjectKeyIdentifier(key.ExportSubjectPublicKeyInfo());
        Assert.Equal(identifier, SampleEnvelope().AsSpan(33, 32).ToArray());
    }

    [Fact]
    public void An_envelope_for_another_key_is_refused_as_WrongRecipient()
    {
        using var other = RSA.Create(2048);
        var error = Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open(SampleEnvelope(), other));
        Assert.Equal(KmsErrors.EnvelopeWrongRecipient, error.ErrorId);
    }

    [Fact]
    public void Damaged_envelopes_fail_with_stable_ids()
    {
        using var key = SampleKey();
        var wrappedKey = SampleEnvelope();
        wrappedKey[200] ^= 1;
        Assert.Equal(KmsErrors.EnvelopeDecryptionFailed, Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open(wrappedKey, key)).ErrorId);

        Assert.Equal(KmsErrors.EnvelopeMalformed, Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open("not cms"u8.ToArray(), key)).ErrorId);
        Assert.Equal(KmsErrors.EnvelopeMalformed, Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open(SampleEnvelope().AsSpan(0, 300), key)).ErrorId);

        var otherCipher = SampleEnvelope();
        otherCipher[412] = 0x2A - 20; // aes-256-cbc (…1.42) becomes …1.22 (aes-192-cbc)
        Assert.Equal(KmsErrors.EnvelopeUnsupportedAlgorithm, Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Open(otherCipher, key)).ErrorId);
    }

    [Fact]
    public void Seal_refuses_a_public_key_that_is_not_RSA()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var error = Assert.Throws<NitroEnclaveException>(() => RecipientEnvelope.Seal([1], ec.ExportSubjectPublicKeyInfo()));
        Assert.Equal(KmsErrors.InvalidRecipientKey, error.ErrorId);
    }
}
