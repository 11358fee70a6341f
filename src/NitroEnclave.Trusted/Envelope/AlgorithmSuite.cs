using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>How the AES-GCM key of a message is derived from its data key.</summary>
public enum KeyDerivation
{
    /// <summary>The data key is the encryption key.</summary>
    Identity,
    HkdfSha256,
    HkdfSha384,
    /// <summary>HKDF-SHA512 with the message id as salt, plus a commit key (message format 2).</summary>
    HkdfSha512Commit,
}

/// <summary>
/// One AES-GCM algorithm suite of the AWS Encryption SDK message format (framework/algorithm-suites.md).
/// Every suite uses a 12-byte IV and a 16-byte tag.
/// </summary>
public sealed class AlgorithmSuite
{
    public const int IvLength = 12;
    public const int TagLength = 16;
    public const int CommitKeyLength = 32;

    private static readonly AlgorithmSuite[] Suites =
    [
        new(0x0014, "AES_128_GCM_IV12_TAG16_NO_KDF", 16, KeyDerivation.Identity, null),
        new(0x0046, "AES_192_GCM_IV12_TAG16_NO_KDF", 24, KeyDerivation.Identity, null),
        new(0x0078, "AES_256_GCM_IV12_TAG16_NO_KDF", 32, KeyDerivation.Identity, null),
        new(0x0114, "AES_128_GCM_IV12_TAG16_HKDF_SHA256", 16, KeyDerivation.HkdfSha256, null),
        new(0x0146, "AES_192_GCM_IV12_TAG16_HKDF_SHA256", 24, KeyDerivation.HkdfSha256, null),
        new(0x0178, "AES_256_GCM_IV12_TAG16_HKDF_SHA256", 32, KeyDerivation.HkdfSha256, null),
        new(0x0214, "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", 16, KeyDerivation.HkdfSha256, ECCurve.NamedCurves.nistP256),
        new(0x0346, "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 24, KeyDerivation.HkdfSha384, ECCurve.NamedCurves.nistP384),
        new(0x0378, "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 32, KeyDerivation.HkdfSha384, ECCurve.NamedCurves.nistP384),
        new(0x0478, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", 32, KeyDerivation.HkdfSha512Commit, null),
        new(0x0578, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", 32, KeyDerivation.HkdfSha512Commit, ECCurve.NamedCurves.nistP384),
    ];

    private AlgorithmSuite(ushort id, string name, int keyLength, KeyDerivation derivation, ECCurve? signatureCurve)
    {
        Id = id;
        Name = name;
        KeyLength = keyLength;
        Derivation = derivation;
        SignatureCurve = signatureCurve;
    }

    /// <summary>The default suite: key commitment and an ECDSA P-384 signature, as in the official SDKs.</summary>
    public static AlgorithmSuite Default => CommitKeyEcdsaP384;

    public static AlgorithmSuite CommitKeyEcdsaP384 => Get(0x0578);

    public static AlgorithmSuite CommitKey => Get(0x0478);

    public static IReadOnlyList<AlgorithmSuite> All => Suites;

    public ushort Id { get; }

    public string Name { get; }

    /// <summary>Length in bytes of both the data key and the derived AES key.</summary>
    public int KeyLength { get; }

    public KeyDerivation Derivation { get; }

    public bool IsCommitting => Derivation == KeyDerivation.HkdfSha512Commit;

    public bool IsSigned => SignatureCurve is not null;

    /// <summary>The ECDSA curve of the footer signature, or null for unsigned suites.</summary>
    public ECCurve? SignatureCurve { get; }

    /// <summary>The hash of the footer signature: SHA-256 with P-256, SHA-384 with P-384.</summary>
    public HashAlgorithmName SignatureHash => Id == 0x0214 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384;

    /// <summary>Size in bytes of a compressed public point of the signature curve.</summary>
    internal int SignatureFieldLength => Id == 0x0214 ? 32 : 48;

    /// <summary>Message format version: 2 for the committing suites, 1 for the others.</summary>
    public int MessageFormatVersion => IsCommitting ? 2 : 1;

    /// <summary>Length of the algorithm suite data in a version 2 header (the commit key).</summary>
    public int SuiteDataLength => IsCommitting ? CommitKeyLength : 0;

    public string IdHex => $"0x{Id:X4}";

    public static AlgorithmSuite Get(ushort id) =>
        TryGet(id) ?? throw EnvelopeErrors.Invalid(EnvelopeErrors.UnsupportedSuite, $"Algorithm suite 0x{id:X4} is not an AES-GCM suite of the AWS Encryption SDK.");

    public static AlgorithmSuite? TryGet(ushort id) => Array.Find(Suites, s => s.Id == id);

    public override string ToString() => $"{IdHex} {Name}";
}
