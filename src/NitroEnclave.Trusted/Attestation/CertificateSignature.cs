using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Attestation;

/// <summary>Certificate signature checks shared by the verifier and the simulated module's chain loader.</summary>
internal static class CertificateSignature
{
    /// <summary>Whether <paramref name="child"/> names <paramref name="issuer"/> as its issuer and carries a valid ECDSA signature by its key.</summary>
    internal static bool IsIssuedBy(X509Certificate2 child, X509Certificate2 issuer)
    {
        if (!child.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
        {
            return false;
        }

        using var key = issuer.GetECDsaPublicKey();
        if (key is null)
        {
            return false;
        }

        try
        {
            var certificate = new AsnReader(child.RawData, AsnEncodingRules.DER).ReadSequence();
            var toBeSigned = certificate.ReadEncodedValue();
            var algorithm = certificate.ReadSequence().ReadObjectIdentifier();
            var signature = certificate.ReadBitString(out _);
            HashAlgorithmName? hash = algorithm switch
            {
                "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
                "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
                "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
                _ => null,
            };
            return hash is { } name && key.VerifyData(toBeSigned.Span, signature, name, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException)
        {
            return false;
        }
    }
}
