using System.Formats.Asn1;
using System.Security.Cryptography;

namespace NitroEnclave.Kms;

/// <summary>
/// The CMS EnvelopedData that KMS returns as CiphertextForRecipient when a request carries a Recipient (RFC 5652):
/// ContentInfo(envelopedData) holding EnvelopedData v2 with one KeyTransRecipientInfo v2 whose rid is the
/// subjectKeyIdentifier = SHA-256 of the recipient's DER SubjectPublicKeyInfo, the content key wrapped with
/// RSAES-OAEP (SHA-256, MGF1-SHA-256), and the content encrypted with AES-256-CBC (PKCS#7 padding).
/// Both directions are here: <see cref="Seal"/> for the local KMS, <see cref="Open"/> for the enclave.
/// Built on System.Formats.Asn1 and the primitive ciphers only, so it works under NativeAOT.
/// </summary>
public static class RecipientEnvelope
{
    private const string EnvelopedDataOid = "1.2.840.113549.1.7.3";
    private const string DataOid = "1.2.840.113549.1.7.1";
    private const string RsaesOaepOid = "1.2.840.113549.1.1.7";
    private const string Mgf1Oid = "1.2.840.113549.1.1.8";
    private const string Sha256Oid = "2.16.840.1.101.3.4.2.1";
    private const string Aes256CbcOid = "2.16.840.1.101.3.4.1.42";
    private const int ContentKeySize = 32;
    private const int IvSize = 16;

    private static readonly Asn1Tag ContextZero = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag ContextOne = new(TagClass.ContextSpecific, 1);
    private static readonly Asn1Tag ContextTwo = new(TagClass.ContextSpecific, 2);

    /// <summary>The subject key identifier KMS puts in the envelope: SHA-256 of the DER SubjectPublicKeyInfo.</summary>
    public static byte[] SubjectKeyIdentifier(ReadOnlySpan<byte> subjectPublicKeyInfo) => SHA256.HashData(subjectPublicKeyInfo);

    /// <summary>Encrypts <paramref name="plaintext"/> for the holder of the RSA key in <paramref name="subjectPublicKeyInfo"/>.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        using var rsa = RSA.Create();
        try
        {
            rsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out var read);
            if (read != subjectPublicKeyInfo.Length)
            {
                throw new CryptographicException("trailing bytes after the SubjectPublicKeyInfo");
            }
        }
        catch (CryptographicException ex)
        {
            throw new NitroEnclaveException(KmsErrors.InvalidRecipientKey, ErrorKind.InvalidData, $"The recipient public key is not an RSA SubjectPublicKeyInfo: {ex.Message}", ex);
        }

        var contentKey = RandomNumberGenerator.GetBytes(ContentKeySize);
        var iv = RandomNumberGenerator.GetBytes(IvSize);
        byte[] encryptedKey;
        byte[] encryptedContent;
        try
        {
            encryptedKey = rsa.Encrypt(contentKey, RSAEncryptionPadding.OaepSHA256);
            using var aes = Aes.Create();
            aes.Key = contentKey;
            encryptedContent = aes.EncryptCbc(plaintext, iv, PaddingMode.PKCS7);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(contentKey);
        }

        var recipientInfos = new AsnWriter(AsnEncodingRules.DER);
        using (recipientInfos.PushSetOf())
        {
            using (recipientInfos.PushSequence())
            {
                recipientInfos.WriteInteger(2);
                recipientInfos.WriteOctetString(SubjectKeyIdentifier(subjectPublicKeyInfo), ContextZero);
                WriteOaepAlgorithm(recipientInfos);
                recipientInfos.WriteOctetString(encryptedKey);
            }
        }

        var version = new AsnWriter(AsnEncodingRules.DER);
        version.WriteInteger(2);
        var dataType = new AsnWriter(AsnEncodingRules.DER);
        dataType.WriteObjectIdentifier(DataOid);
        var contentAlgorithm = new AsnWriter(AsnEncodingRules.DER);
        using (contentAlgorithm.PushSequence())
        {
            contentAlgorithm.WriteObjectIdentifier(Aes256CbcOid);
            contentAlgorithm.WriteOctetString(iv);
        }

        var chunk = new AsnWriter(AsnEncodingRules.DER);
        chunk.WriteOctetString(encryptedContent);
        var envelopedType = new AsnWriter(AsnEncodingRules.DER);
        envelopedType.WriteObjectIdentifier(EnvelopedDataOid);

        // KMS writes the constructed parts with indefinite lengths (BER) and the content as a constructed
        // [0] OCTET STRING of chunks; AsnWriter only writes definite lengths, so the frame is assembled here.
        using var output = new MemoryStream();
        output.Write([0x30, 0x80]);
        output.Write(envelopedType.Encode());
        output.Write([0xA0, 0x80, 0x30, 0x80]);
        output.Write(version.Encode());
        output.Write(recipientInfos.Encode());
        output.Write([0x30, 0x80]);
        output.Write(dataType.Encode());
        output.Write(contentAlgorithm.Encode());
        output.Write([0xA0, 0x80]);
        output.Write(chunk.Encode());
        output.Write(new byte[10]); // end-of-contents for [0] content, EncryptedContentInfo, EnvelopedData, [0], ContentInfo
        return output.ToArray();
    }

    /// <summary>
    /// Decrypts an envelope addressed to <paramref name="privateKey"/>. Checks that the recipient identifier is the
    /// SHA-256 of this key's SubjectPublicKeyInfo and that the algorithms are the ones KMS uses.
    /// </summary>
    public static byte[] Open(ReadOnlySpan<byte> envelope, RSA privateKey)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        EnvelopeParts parts;
        try
        {
            parts = Parse(envelope.ToArray());
        }
        catch (AsnContentException ex)
        {
            throw Malformed(ex.Message, ex);
        }

        var expectedIdentifier = SubjectKeyIdentifier(privateKey.ExportSubjectPublicKeyInfo());
        if (!parts.SubjectKeyIdentifier.AsSpan().SequenceEqual(expectedIdentifier))
        {
            throw new NitroEnclaveException(KmsErrors.EnvelopeWrongRecipient, ErrorKind.InvalidData,
                "The envelope is addressed to a different public key than the one given (subjectKeyIdentifier mismatch).");
        }

        byte[] contentKey;
        try
        {
            contentKey = privateKey.Decrypt(parts.EncryptedKey, RSAEncryptionPadding.OaepSHA256);
        }
        catch (CryptographicException ex)
        {
            throw new NitroEnclaveException(KmsErrors.EnvelopeDecryptionFailed, ErrorKind.SecurityError, "The content key does not decrypt with the given private key.", ex);
        }

        try
        {
            if (contentKey.Length != ContentKeySize)
            {
                throw new NitroEnclaveException(KmsErrors.EnvelopeDecryptionFailed, ErrorKind.SecurityError, "The content key is not an AES-256 key.");
            }

            using var aes = Aes.Create();
            aes.Key = contentKey;
            return aes.DecryptCbc(parts.EncryptedContent, parts.Iv, PaddingMode.PKCS7);
        }
        catch (CryptographicException ex)
        {
            throw new NitroEnclaveException(KmsErrors.EnvelopeDecryptionFailed, ErrorKind.SecurityError, "The content does not decrypt: the envelope is damaged.", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(contentKey);
        }
    }

    private static void WriteOaepAlgorithm(AsnWriter writer)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(RsaesOaepOid);
            using (writer.PushSequence())
            {
                using (writer.PushSequence(ContextZero))
                {
                    WriteSha256(writer);
                }

                using (writer.PushSequence(ContextOne))
                {
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(Mgf1Oid);
                        WriteSha256(writer);
                    }
                }
            }
        }
    }

    private static void WriteSha256(AsnWriter writer)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(Sha256Oid);
            writer.WriteNull();
        }
    }

    private sealed record EnvelopeParts(byte[] SubjectKeyIdentifier, byte[] EncryptedKey, byte[] Iv, byte[] EncryptedContent);

    private static EnvelopeParts Parse(byte[] envelope)
    {
        var contentInfo = new AsnReader(envelope, AsnEncodingRules.BER).ReadSequence();
        if (contentInfo.ReadObjectIdentifier() != EnvelopedDataOid)
        {
            throw Malformed("the ContentInfo does not hold EnvelopedData");
        }

        var enveloped = contentInfo.ReadSequence(ContextZero).ReadSequence();
        if (enveloped.ReadInteger() != 2)
        {
            throw Malformed("EnvelopedData is not version 2");
        }

        if (enveloped.PeekTag().HasSameClassAndValue(ContextZero))
        {
            enveloped.ReadEncodedValue(); // originatorInfo: certificates the recipient does not need
        }

        var recipients = enveloped.ReadSetOf();
        var recipient = recipients.ReadSequence();
        if (recipients.HasData)
        {
            throw Malformed("the envelope has more than one recipient");
        }

        if (recipient.ReadInteger() != 2)
        {
            throw Malformed("the recipient is not a version 2 KeyTransRecipientInfo with a subjectKeyIdentifier");
        }

        var identifier = recipient.ReadOctetString(ContextZero);
        ReadOaepAlgorithm(recipient.ReadSequence());
        var encryptedKey = recipient.ReadOctetString();

        var encryptedContentInfo = enveloped.ReadSequence();
        if (encryptedContentInfo.ReadObjectIdentifier() != DataOid)
        {
            throw Malformed("the encrypted content is not of type data");
        }

        var contentAlgorithm = encryptedContentInfo.ReadSequence();
        var algorithm = contentAlgorithm.ReadObjectIdentifier();
        if (algorithm != Aes256CbcOid)
        {
            throw Unsupported($"content encryption {algorithm} (expected AES-256-CBC)");
        }

        var iv = contentAlgorithm.ReadOctetString();
        if (iv.Length != IvSize)
        {
            throw Malformed("the AES-CBC IV is not 16 bytes");
        }

        var encryptedContent = encryptedContentInfo.ReadOctetString(ContextZero);
        return new EnvelopeParts(identifier, encryptedKey, iv, encryptedContent);
    }

    private static void ReadOaepAlgorithm(AsnReader algorithm)
    {
        var oid = algorithm.ReadObjectIdentifier();
        if (oid != RsaesOaepOid)
        {
            throw Unsupported($"key encryption {oid} (expected RSAES-OAEP)");
        }

        // Absent parameters mean SHA-1, which KMS never uses.
        var parameters = algorithm.ReadSequence();
        if (!parameters.HasData || !parameters.PeekTag().HasSameClassAndValue(ContextZero))
        {
            throw Unsupported("RSAES-OAEP with SHA-1 (expected SHA-256)");
        }

        RequireSha256(parameters.ReadSequence(ContextZero).ReadSequence(), "OAEP hash");
        if (!parameters.HasData || !parameters.PeekTag().HasSameClassAndValue(ContextOne))
        {
            throw Unsupported("RSAES-OAEP with MGF1-SHA-1 (expected MGF1-SHA-256)");
        }

        var mgf = parameters.ReadSequence(ContextOne).ReadSequence();
        if (mgf.ReadObjectIdentifier() != Mgf1Oid)
        {
            throw Unsupported("an OAEP mask generation function other than MGF1");
        }

        RequireSha256(mgf.ReadSequence(), "MGF1 hash");
        if (parameters.HasData && parameters.PeekTag().HasSameClassAndValue(ContextTwo))
        {
            throw Unsupported("an OAEP label (pSourceFunc)");
        }
    }

    private static void RequireSha256(AsnReader algorithm, string what)
    {
        var oid = algorithm.ReadObjectIdentifier();
        if (oid != Sha256Oid)
        {
            throw Unsupported($"{what} {oid} (expected SHA-256)");
        }
    }

    private static NitroEnclaveException Malformed(string detail, Exception? inner = null) =>
        new(KmsErrors.EnvelopeMalformed, ErrorKind.InvalidData, $"The CiphertextForRecipient is not a CMS EnvelopedData as KMS writes it: {detail}.", inner);

    private static NitroEnclaveException Unsupported(string what) =>
        new(KmsErrors.EnvelopeUnsupportedAlgorithm, ErrorKind.InvalidData, $"The CiphertextForRecipient uses {what}.");
}
