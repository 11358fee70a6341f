using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Tests;

/// <summary>
/// Writes attestation documents independently of the product code: its own P-384 chain (root, intermediates, leaf)
/// whose extensions tests can break, its own CBOR payload whose fields tests can set to anything, and its own
/// COSE_Sign1 ES384 signature. Times are fixed so tests are deterministic.
/// </summary>
public sealed class TestAttestationBuilder : IDisposable
{
    public static readonly DateTimeOffset DefaultTime = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<(X509Certificate2 Certificate, ECDsa Key)> _chain = [];

    public int Intermediates { get; set; } = 2;

    /// <summary>pathLen of the root; null for none (as AWS's root has none).</summary>
    public int? RootPathLength { get; set; }

    public bool LeafIsAuthority { get; set; }

    public X509KeyUsageFlags AuthorityKeyUsage { get; set; } = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature;

    public bool IntermediatesAreAuthorities { get; set; } = true;

    /// <summary>Extensions added to every intermediate, beyond basicConstraints and keyUsage.</summary>
    public List<X509Extension> IntermediateExtensions { get; } = [];

    public DateTimeOffset IssuedAt { get; set; } = DefaultTime - TimeSpan.FromMinutes(5);

    public TimeSpan LeafLifetime { get; set; } = TimeSpan.FromHours(3);

    public string ModuleId { get; set; } = "i-0123456789abcdef0-enc0123456789abcdef";

    public string Digest { get; set; } = "SHA384";

    public DateTimeOffset Timestamp { get; set; } = DefaultTime;

    public SortedDictionary<int, byte[]> Pcrs { get; } = DefaultPcrs();

    public byte[]? PublicKey { get; set; }

    public byte[]? UserData { get; set; }

    public byte[]? Nonce { get; set; }

    public bool IndefiniteLengthMap { get; set; }

    public bool Tagged { get; set; }

    public X509Certificate2 Root => Chain[0].Certificate;

    /// <summary>The chain root first, leaf last.</summary>
    public IReadOnlyList<(X509Certificate2 Certificate, ECDsa Key)> Chain
    {
        get
        {
            if (_chain.Count == 0)
            {
                BuildChain();
            }

            return _chain;
        }
    }

    /// <summary>The CA bundle as a document carries it: root first, without the leaf.</summary>
    public List<byte[]> CaBundle() => Chain.Take(Chain.Count - 1).Select(c => c.Certificate.RawData).ToList();

    public static SortedDictionary<int, byte[]> DefaultPcrs()
    {
        var pcrs = new SortedDictionary<int, byte[]>();
        for (var i = 0; i < 16; i++)
        {
            pcrs[i] = SHA384.HashData([(byte)i]);
        }

        return pcrs;
    }

    public byte[] Build(List<byte[]>? caBundle = null) => Sign(Payload(caBundle ?? CaBundle()));

    public byte[] Payload(List<byte[]> caBundle)
    {
        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteStartMap(IndefiniteLengthMap ? null : 9);
        writer.WriteTextString("module_id");
        writer.WriteTextString(ModuleId);
        writer.WriteTextString("digest");
        writer.WriteTextString(Digest);
        writer.WriteTextString("timestamp");
        writer.WriteUInt64((ulong)Timestamp.ToUnixTimeMilliseconds());
        writer.WriteTextString("pcrs");
        writer.WriteStartMap(Pcrs.Count);
        foreach (var (index, value) in Pcrs)
        {
            writer.WriteInt32(index);
            writer.WriteByteString(value);
        }

        writer.WriteEndMap();
        writer.WriteTextString("certificate");
        writer.WriteByteString(Chain[^1].Certificate.RawData);
        writer.WriteTextString("cabundle");
        writer.WriteStartArray(caBundle.Count);
        foreach (var der in caBundle)
        {
            writer.WriteByteString(der);
        }

        writer.WriteEndArray();
        foreach (var (key, value) in new[] { ("public_key", PublicKey), ("user_data", UserData), ("nonce", Nonce) })
        {
            writer.WriteTextString(key);
            if (value is null)
            {
                writer.WriteNull();
            }
            else
            {
                writer.WriteByteString(value);
            }
        }

        writer.WriteEndMap();
        return writer.Encode();
    }

    /// <summary>COSE_Sign1 with protected header {1: -35}, signed by the leaf over ["Signature1", protected, h'', payload].</summary>
    public byte[] Sign(byte[] payload, int algorithm = -35)
    {
        var header = new CborWriter();
        header.WriteStartMap(1);
        header.WriteInt32(1);
        header.WriteInt32(algorithm);
        header.WriteEndMap();
        var protectedHeader = header.Encode();

        var toBeSigned = new CborWriter();
        toBeSigned.WriteStartArray(4);
        toBeSigned.WriteTextString("Signature1");
        toBeSigned.WriteByteString(protectedHeader);
        toBeSigned.WriteByteString([]);
        toBeSigned.WriteByteString(payload);
        toBeSigned.WriteEndArray();
        var signature = Chain[^1].Key.SignData(toBeSigned.Encode(), HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        var writer = new CborWriter(CborConformanceMode.Lax);
        if (Tagged)
        {
            writer.WriteTag((CborTag)18);
        }

        writer.WriteStartArray(4);
        writer.WriteByteString(protectedHeader);
        writer.WriteStartMap(0);
        writer.WriteEndMap();
        writer.WriteByteString(payload);
        writer.WriteByteString(signature);
        writer.WriteEndArray();
        return writer.Encode();
    }

    public string RootPem() => Root.ExportCertificatePem();

    public void Dispose()
    {
        foreach (var (certificate, key) in _chain)
        {
            certificate.Dispose();
            key.Dispose();
        }
    }

    private void BuildChain()
    {
        var rootName = new X500DistinguishedName("CN=test-root.nitro-enclaves, O=NitroEnclave Tests");
        var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        _chain.Add((Issue(rootName, rootKey, rootName, rootKey, IssuedAt, IssuedAt.AddYears(30), true, RootPathLength, AuthorityKeyUsage), rootKey));
        for (var i = 1; i <= Intermediates; i++)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
            var name = new X500DistinguishedName($"CN=test-intermediate-{i}, O=NitroEnclave Tests");
            _chain.Add((Issue(name, key, _chain[^1].Certificate.SubjectName, _chain[^1].Key, IssuedAt, IssuedAt.AddDays(30), IntermediatesAreAuthorities, Intermediates - i, AuthorityKeyUsage, IntermediateExtensions), key));
        }

        var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var leafName = new X500DistinguishedName($"CN={ModuleId}.test, O=NitroEnclave Tests");
        _chain.Add((Issue(leafName, leafKey, _chain[^1].Certificate.SubjectName, _chain[^1].Key, IssuedAt, IssuedAt + LeafLifetime, LeafIsAuthority, null, X509KeyUsageFlags.DigitalSignature), leafKey));
    }

    private static X509Certificate2 Issue(X500DistinguishedName subject, ECDsa key, X500DistinguishedName issuer, ECDsa issuerKey, DateTimeOffset notBefore, DateTimeOffset notAfter, bool authority, int? pathLength, X509KeyUsageFlags usage, IEnumerable<X509Extension>? extra = null)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA384);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(authority, authority && pathLength is not null, authority ? pathLength ?? 0 : 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        foreach (var extension in extra ?? [])
        {
            request.CertificateExtensions.Add(extension);
        }

        var serial = SHA256.HashData(subject.RawData)[..16];
        serial[0] &= 0x7F;
        return request.Create(issuer, X509SignatureGenerator.CreateForECDsa(issuerKey), notBefore, notAfter, serial);
    }
}
