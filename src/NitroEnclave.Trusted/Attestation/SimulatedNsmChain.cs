using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Attestation;

/// <summary>
/// The certificate chain of a simulated security module, shaped like AWS's: a root, one or more intermediate CAs
/// (each limiting the path below it), and a short-lived leaf that signs documents and is renewed when it runs out.
/// All keys are P-384 and every certificate is signed with ECDSA SHA-384. The root and intermediates can be saved to a
/// directory (PEM certificates, PKCS#8 PEM keys) and loaded again, so verifiers can keep trusting the same root.
/// </summary>
public sealed class SimulatedNsmChain : IDisposable
{
    public static readonly TimeSpan DefaultLeafLifetime = TimeSpan.FromHours(3);
    private const string SubjectSuffix = "OU=Simulation, O=NitroEnclave, C=US";
    private const string RootFile = "root";
    private const string IntermediateFilePrefix = "intermediate-";
    private static readonly TimeSpan RootLifetime = TimeSpan.FromDays(365 * 30);
    private static readonly TimeSpan IntermediateLifetime = TimeSpan.FromDays(365 * 5);

    // Issued a little in the past, so a document stamped the moment the leaf is made is inside its validity.
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    private readonly List<(X509Certificate2 Certificate, ECDsa Key)> _authorities;
    private readonly TimeProvider _time;
    private (X509Certificate2 Certificate, ECDsa Key)? _leaf;

    private SimulatedNsmChain(List<(X509Certificate2, ECDsa)> authorities, TimeSpan leafLifetime, TimeProvider time)
    {
        _authorities = authorities;
        LeafLifetime = leafLifetime;
        _time = time;
    }

    /// <summary>The root to trust when verifying the simulation's documents.</summary>
    public X509Certificate2 Root => _authorities[0].Certificate;

    /// <summary>The CA bundle as documents carry it: root first, then each intermediate.</summary>
    public IReadOnlyList<X509Certificate2> CaBundle => _authorities.Select(a => a.Certificate).ToArray();

    public TimeSpan LeafLifetime { get; }

    /// <summary>Creates a new root and <paramref name="intermediates"/> intermediate CAs.</summary>
    public static SimulatedNsmChain Create(int intermediates = 2, TimeSpan? leafLifetime = null, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(intermediates, 1);
        var time = timeProvider ?? TimeProvider.System;
        var now = time.GetUtcNow();
        var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootName = new X500DistinguishedName("CN=simulated.nitro-enclaves, " + SubjectSuffix);
        var authorities = new List<(X509Certificate2, ECDsa)>
        {
            (Issue(rootName, rootKey, rootName, rootKey, now - Backdate, now + RootLifetime, authority: true, pathLength: null), rootKey),
        };
        for (var i = 1; i <= intermediates; i++)
        {
            var (issuer, issuerKey) = authorities[^1];
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
            var name = new X500DistinguishedName($"CN={IntermediateFilePrefix}{i}.simulated.nitro-enclaves, {SubjectSuffix}");
            var notAfter = Min(now + IntermediateLifetime, issuer.NotAfter);
            authorities.Add((Issue(name, key, issuer.SubjectName, issuerKey, now - Backdate, notAfter, authority: true, pathLength: intermediates - i), key));
        }

        return new SimulatedNsmChain(authorities, leafLifetime ?? DefaultLeafLifetime, time);
    }

    /// <summary>Loads a chain saved with <see cref="Save"/>; a fresh leaf is issued when one is needed.</summary>
    public static SimulatedNsmChain Load(string directory, TimeSpan? leafLifetime = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var authorities = new List<(X509Certificate2, ECDsa)>();
        try
        {
            authorities.Add(LoadPair(directory, RootFile));
            for (var i = 1; File.Exists(System.IO.Path.Combine(directory, $"{IntermediateFilePrefix}{i}.pem")); i++)
            {
                authorities.Add(LoadPair(directory, $"{IntermediateFilePrefix}{i}"));
            }
        }
        catch (NitroEnclaveException)
        {
            DisposeAll(authorities);
            throw;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            DisposeAll(authorities);
            throw StoreInvalid($"Cannot load the simulated security module's chain from '{directory}': {ex.Message}", ex);
        }

        if (authorities.Count < 2)
        {
            DisposeAll(authorities);
            throw StoreInvalid($"'{directory}' holds a root but no intermediate CA ({IntermediateFilePrefix}1.pem).");
        }

        for (var i = 1; i < authorities.Count; i++)
        {
            if (!CertificateSignature.IsIssuedBy(authorities[i].Item1, authorities[i - 1].Item1))
            {
                DisposeAll(authorities);
                throw StoreInvalid($"In '{directory}', {IntermediateFilePrefix}{i}.pem is not issued by the certificate before it.");
            }
        }

        return new SimulatedNsmChain(authorities, leafLifetime ?? DefaultLeafLifetime, timeProvider ?? TimeProvider.System);
    }

    /// <summary>Writes the root and intermediates (certificates and keys) to <paramref name="directory"/>, each file atomically.</summary>
    public void Save(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        for (var i = 0; i < _authorities.Count; i++)
        {
            var name = i == 0 ? RootFile : $"{IntermediateFilePrefix}{i}";
            var (certificate, key) = _authorities[i];
            WriteAtomically(System.IO.Path.Combine(directory, name + ".key"), key.ExportPkcs8PrivateKeyPem(), secret: true);
            WriteAtomically(System.IO.Path.Combine(directory, name + ".pem"), certificate.ExportCertificatePem(), secret: false);
        }
    }

    /// <summary>The current leaf and its key, issuing a new one when the current leaf expires within a minute.</summary>
    internal (X509Certificate2 Certificate, ECDsa Key) CurrentLeaf(string moduleId)
    {
        var now = _time.GetUtcNow();
        if (_leaf is { } leaf && leaf.Certificate.NotAfter.ToUniversalTime() > (now + TimeSpan.FromMinutes(1)).UtcDateTime && leaf.Certificate.NotBefore.ToUniversalTime() <= now.UtcDateTime)
        {
            return leaf;
        }

        var (issuer, issuerKey) = _authorities[^1];
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var name = new X500DistinguishedName($"CN={moduleId}.simulated.nitro-enclaves, {SubjectSuffix}");
        var certificate = Issue(name, key, issuer.SubjectName, issuerKey, now - Backdate, Min(now + LeafLifetime, issuer.NotAfter), authority: false, pathLength: null);
        if (_leaf is { } old)
        {
            old.Certificate.Dispose();
            old.Key.Dispose();
        }

        _leaf = (certificate, key);
        return _leaf.Value;
    }

    public void Dispose()
    {
        DisposeAll(_authorities);
        if (_leaf is { } leaf)
        {
            leaf.Certificate.Dispose();
            leaf.Key.Dispose();
        }
    }

    private static X509Certificate2 Issue(X500DistinguishedName subject, ECDsa key, X500DistinguishedName issuer, ECDsa issuerKey, DateTimeOffset notBefore, DateTimeOffset notAfter, bool authority, int? pathLength)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA384);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(authority, pathLength is not null, pathLength ?? 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            authority ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature : X509KeyUsageFlags.DigitalSignature,
            critical: true));
        var subjectKeyId = new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false);
        request.CertificateExtensions.Add(subjectKeyId);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial number
        var generator = X509SignatureGenerator.CreateForECDsa(issuerKey);
        return request.Create(issuer, generator, notBefore, notAfter, serial);
    }

    private static (X509Certificate2, ECDsa) LoadPair(string directory, string name)
    {
        var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(System.IO.Path.Combine(directory, name + ".pem")));
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(System.IO.Path.Combine(directory, name + ".key")));
        using var certificateKey = certificate.GetECDsaPublicKey();
        if (certificateKey is null || !certificateKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            key.Dispose();
            certificate.Dispose();
            throw StoreInvalid($"{name}.key is not the key of {name}.pem.");
        }

        return (certificate, key);
    }

    private static void WriteAtomically(string path, string text, bool secret)
    {
        var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (secret && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using (var writer = new StreamWriter(temporary, System.Text.Encoding.ASCII, options))
            {
                writer.Write(text);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b)
    {
        var other = new DateTimeOffset(b.ToUniversalTime());
        return a < other ? a : other;
    }

    private static void DisposeAll(List<(X509Certificate2 Certificate, ECDsa Key)> pairs)
    {
        foreach (var (certificate, key) in pairs)
        {
            certificate.Dispose();
            key.Dispose();
        }
    }

    private static NitroEnclaveException StoreInvalid(string message, Exception? inner = null) =>
        new(AttestationErrors.SimulatedNsmStoreInvalid, ErrorKind.InvalidData, message, inner);
}
