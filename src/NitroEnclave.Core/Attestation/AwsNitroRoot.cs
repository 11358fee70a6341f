using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Attestation;

/// <summary>The AWS Nitro Enclaves root certificate (G1), the trust anchor of every genuine attestation document.</summary>
public static class AwsNitroRoot
{
    /// <summary>SHA-256 of the DER certificate (not of the zip file AWS distributes it in).</summary>
    public const string Sha256Fingerprint = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

    /// <summary>C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves; P-384; valid 2019-10-28 to 2049-10-28.</summary>
    public const string Pem = """
        -----BEGIN CERTIFICATE-----
        MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
        MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
        VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
        MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
        DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
        BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
        48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
        h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
        R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
        MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
        rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
        IwLz3/Y=
        -----END CERTIFICATE-----
        """;

    /// <summary>A new instance of the root certificate.</summary>
    public static X509Certificate2 Certificate() => X509Certificate2.CreateFromPem(Pem);
}
