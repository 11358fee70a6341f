using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Attestation;

/// <summary>
/// Verifies Nitro attestation documents: the ES384 signature over the COSE Sig_structure, the certificate chain
/// leaf -> CA bundle -> a trusted root (signatures, names, basicConstraints, pathLen, keyUsage, no critical extension
/// it does not process, validity at the verification time and at the document's timestamp), the field rules, and the
/// caller's expectations.
/// The chain is checked here rather than by X509Chain so the rules are explicit, checked at two times, identical on
/// every platform, and free of network fetches and platform trust stores.
/// </summary>
public sealed class AttestationVerifier
{
    public const int MaxPcrs = 32;
    public const int MaxCertificateSize = 1024;
    public const int MaxPublicKeySize = NsmLimits.MaxPublicKeySize;
    public const int MaxUserDataSize = NsmLimits.MaxUserDataSize;
    public const int MaxNonceSize = NsmLimits.MaxNonceSize;
    public const int CoseEs384 = -35;
    public const int SignatureSize = 96;

    /// <summary>How far in the future a document's timestamp may be before the clocks are assumed to disagree too much.</summary>
    public static readonly TimeSpan AllowedClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>The extensions this verifier processes: basicConstraints and keyUsage. Any other marked critical fails (RFC 5280 4.2).</summary>
    private static readonly string[] ProcessedExtensions = ["2.5.29.19", "2.5.29.15"];

    private readonly X509Certificate2[] _trustedRoots;
    private readonly TimeProvider _time;

    /// <summary>A verifier that trusts only the AWS Nitro root G1.</summary>
    public AttestationVerifier()
        : this([AwsNitroRoot.Certificate()])
    {
    }

    /// <summary>A verifier that trusts exactly <paramref name="trustedRoots"/> (for example a simulated module's root).</summary>
    public AttestationVerifier(IEnumerable<X509Certificate2> trustedRoots, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(trustedRoots);
        _trustedRoots = trustedRoots.ToArray();
        if (_trustedRoots.Length == 0)
        {
            throw new NitroEnclaveException(AttestationErrors.TrustedRootInvalid, ErrorKind.InvalidArgument, "At least one trusted root is needed.");
        }

        foreach (var root in _trustedRoots)
        {
            if (root.GetECDsaPublicKey() is not { } key)
            {
                throw new NitroEnclaveException(AttestationErrors.TrustedRootInvalid, ErrorKind.InvalidArgument, $"The trusted root '{root.Subject}' does not have an ECDSA key; Nitro chains are ECDSA throughout.");
            }

            key.Dispose();
        }

        _time = timeProvider ?? TimeProvider.System;
    }

    public IReadOnlyList<X509Certificate2> TrustedRoots => _trustedRoots;

    /// <summary>Reads every certificate of a PEM text; the text must hold at least one.</summary>
    public static IReadOnlyList<X509Certificate2> ReadPemCertificates(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new NitroEnclaveException(AttestationErrors.TrustedRootInvalid, ErrorKind.InvalidArgument, "The PEM text holds a certificate that cannot be read: " + ex.Message, ex);
        }

        if (collection.Count == 0)
        {
            throw new NitroEnclaveException(AttestationErrors.TrustedRootInvalid, ErrorKind.InvalidArgument, "The PEM text holds no certificate.");
        }

        return [.. collection];
    }

    /// <summary>Parses and verifies a document; malformed bytes raise <see cref="AttestationErrors.Malformed"/>.</summary>
    public AttestationResult Verify(ReadOnlyMemory<byte> encoded, AttestationExpectations? expectations = null, DateTimeOffset? at = null) =>
        Verify(AttestationDocument.Parse(encoded), expectations, at);

    /// <summary>Checks everything and reports every failed rule; the chain's validity is checked at <paramref name="at"/> (now by default) and at the document's timestamp.</summary>
    public AttestationResult Verify(AttestationDocument document, AttestationExpectations? expectations = null, DateTimeOffset? at = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        var time = at ?? _time.GetUtcNow();
        var failures = new List<AttestationFailure>();
        CheckFields(document, failures);
        CheckSignature(document, failures);
        var chain = CheckChain(document, time, failures);
        CheckTime(document, expectations?.MaxAge, time, failures);
        if (expectations is not null)
        {
            CheckExpectations(document, expectations, failures);
        }

        return new AttestationResult(document, time, failures, chain);
    }

    private static void CheckFields(AttestationDocument document, List<AttestationFailure> failures)
    {
        void Fail(string rule, string reason) => failures.Add(new AttestationFailure(rule, reason));

        if (document.Algorithm != CoseEs384)
        {
            Fail(AttestationRules.AlgorithmUnsupported, $"The protected header names COSE algorithm {document.Algorithm}; Nitro documents use ES384 (-35).");
        }

        if (string.IsNullOrEmpty(document.ModuleId))
        {
            Fail(AttestationRules.ModuleIdMissing, "The module id is empty.");
        }

        if (document.Digest != "SHA384")
        {
            Fail(AttestationRules.DigestUnsupported, $"The digest is '{document.Digest}'; Nitro documents use SHA384.");
        }

        if (document.Pcrs.Count is 0 or > MaxPcrs)
        {
            Fail(AttestationRules.PcrCountInvalid, $"The document has {document.Pcrs.Count} PCRs; it must have 1 to {MaxPcrs}.");
        }

        foreach (var (index, value) in document.Pcrs)
        {
            if (index >= MaxPcrs)
            {
                Fail(AttestationRules.PcrIndexInvalid, $"PCR index {index} is out of range (0 to {MaxPcrs - 1}).");
            }

            if (value.Length is not (32 or 48 or 64))
            {
                Fail(AttestationRules.PcrLengthInvalid, $"PCR {index} has {value.Length} bytes; a PCR has 32, 48 or 64.");
            }
        }

        if (document.CaBundle.Count == 0)
        {
            Fail(AttestationRules.CaBundleInvalid, "The CA bundle is empty.");
        }

        for (var i = 0; i < document.CaBundle.Count; i++)
        {
            if (document.CaBundle[i].RawData.Length > MaxCertificateSize)
            {
                Fail(AttestationRules.CaBundleInvalid, $"cabundle[{i}] has {document.CaBundle[i].RawData.Length} bytes; entries have at most {MaxCertificateSize}.");
            }
        }

        if (document.PublicKey is { } publicKey && publicKey.Length is 0 or > MaxPublicKeySize)
        {
            Fail(AttestationRules.PublicKeyInvalid, $"The public key has {publicKey.Length} bytes; it must have 1 to {MaxPublicKeySize}.");
        }

        if (document.UserData is { Length: > MaxUserDataSize } userData)
        {
            Fail(AttestationRules.UserDataInvalid, $"The user data has {userData.Length} bytes; at most {MaxUserDataSize} are allowed.");
        }

        if (document.Nonce is { Length: > MaxNonceSize } nonce)
        {
            Fail(AttestationRules.NonceInvalid, $"The nonce has {nonce.Length} bytes; at most {MaxNonceSize} are allowed.");
        }
    }

    private static void CheckSignature(AttestationDocument document, List<AttestationFailure> failures)
    {
        using var key = document.Certificate.GetECDsaPublicKey();
        if (key is null || key.KeySize != 384)
        {
            failures.Add(new AttestationFailure(AttestationRules.CertificateKeyUnsupported, "The leaf certificate's key is not an ECDSA P-384 key, so it cannot sign ES384."));
            return;
        }

        if (document.Algorithm != CoseEs384)
        {
            return; // already reported; the algorithm decides the hash, so there is nothing sound to check
        }

        if (document.Signature.Length != SignatureSize || !document.Cose.VerifySignature(key))
        {
            failures.Add(new AttestationFailure(AttestationRules.SignatureInvalid, "The ES384 signature over the COSE Sig_structure does not verify with the leaf certificate's key."));
        }
    }

    /// <summary>Checks leaf -> cabundle (last to first, ending at the root) and returns the chain as walked, leaf first.</summary>
    private List<X509Certificate2> CheckChain(AttestationDocument document, DateTimeOffset time, List<AttestationFailure> failures)
    {
        void Fail(string rule, string reason) => failures.Add(new AttestationFailure(rule, reason));

        var chain = new List<X509Certificate2> { document.Certificate };
        for (var i = document.CaBundle.Count - 1; i >= 0; i--)
        {
            chain.Add(document.CaBundle[i]);
        }

        // The bundle starts with the root itself, so its first entry must be one of the trusted roots, byte for byte.
        var top = chain[^1];
        if (!_trustedRoots.Any(root => root.RawData.AsSpan().SequenceEqual(top.RawData)))
        {
            Fail(AttestationRules.ChainUntrusted, $"The chain ends at '{top.Subject}', which is not a trusted root.");
        }

        for (var i = 0; i < chain.Count - 1; i++)
        {
            if (!CertificateSignature.IsIssuedBy(chain[i], chain[i + 1]))
            {
                Fail(AttestationRules.ChainBroken, $"'{chain[i].Subject}' is not signed by the next certificate of the chain, '{chain[i + 1].Subject}'.");
            }
        }

        foreach (var certificate in chain)
        {
            CheckCriticalExtensions(certificate, failures);
        }

        CheckLeafUsage(document.Certificate, failures);
        for (var i = 1; i < chain.Count; i++)
        {
            CheckAuthority(chain[i], intermediatesBelow: i - 1, failures);
        }

        var timestamp = document.Timestamp;
        foreach (var certificate in chain)
        {
            var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
            var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
            if (time > notAfter)
            {
                Fail(AttestationRules.CertificateExpired, $"'{certificate.Subject}' expired at {notAfter:u}, before the verification time {time:u}.");
            }
            else if (time < notBefore)
            {
                Fail(AttestationRules.CertificateNotYetValid, $"'{certificate.Subject}' is valid only from {notBefore:u}, after the verification time {time:u}.");
            }

            if (timestamp < notBefore || timestamp > notAfter)
            {
                Fail(AttestationRules.CertificateInvalidAtTimestamp, $"'{certificate.Subject}' (valid {notBefore:u} to {notAfter:u}) was not valid at the document's timestamp {timestamp:u}.");
            }
        }

        return chain;
    }

    /// <summary>
    /// RFC 5280 4.2: a certificate with a critical extension the verifier does not recognise or process must be
    /// rejected, since that extension may restrict how the certificate may be used in ways this verifier would ignore.
    /// </summary>
    private static void CheckCriticalExtensions(X509Certificate2 certificate, List<AttestationFailure> failures)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Critical && Array.IndexOf(ProcessedExtensions, extension.Oid?.Value) < 0)
            {
                failures.Add(new AttestationFailure(AttestationRules.CriticalExtensionUnknown,
                    $"'{certificate.Subject}' has the critical extension {extension.Oid?.Value}, which this verifier does not process."));
            }
        }
    }

    private static void CheckLeafUsage(X509Certificate2 leaf, List<AttestationFailure> failures)
    {
        if (leaf.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true })
        {
            failures.Add(new AttestationFailure(AttestationRules.BasicConstraintsInvalid, $"The leaf certificate '{leaf.Subject}' is a CA certificate."));
        }

        if (leaf.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.DigitalSignature))
        {
            failures.Add(new AttestationFailure(AttestationRules.KeyUsageInvalid, $"The leaf certificate '{leaf.Subject}' may not sign (its keyUsage lacks digitalSignature)."));
        }
    }

    private static void CheckAuthority(X509Certificate2 authority, int intermediatesBelow, List<AttestationFailure> failures)
    {
        var constraints = authority.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true })
        {
            failures.Add(new AttestationFailure(AttestationRules.BasicConstraintsInvalid, $"'{authority.Subject}' issues certificates but its basicConstraints do not make it a CA."));
        }
        else if (constraints.HasPathLengthConstraint && intermediatesBelow > constraints.PathLengthConstraint)
        {
            failures.Add(new AttestationFailure(AttestationRules.PathLengthExceeded, $"'{authority.Subject}' allows {constraints.PathLengthConstraint} intermediate CAs below it, but the chain has {intermediatesBelow}."));
        }

        if (authority.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
        {
            failures.Add(new AttestationFailure(AttestationRules.KeyUsageInvalid, $"'{authority.Subject}' issues certificates but its keyUsage lacks keyCertSign."));
        }
    }

    private static void CheckTime(AttestationDocument document, TimeSpan? maxAge, DateTimeOffset time, List<AttestationFailure> failures)
    {
        var age = time - document.Timestamp;
        if (age < -AllowedClockSkew)
        {
            failures.Add(new AttestationFailure(AttestationRules.TimestampInFuture, $"The document's timestamp {document.Timestamp:u} is after the verification time {time:u}."));
        }
        else if (maxAge is { } limit && age > limit)
        {
            failures.Add(new AttestationFailure(AttestationRules.DocumentTooOld, $"The document is {age} old at {time:u}; at most {limit} is accepted."));
        }
    }

    private static void CheckExpectations(AttestationDocument document, AttestationExpectations expectations, List<AttestationFailure> failures)
    {
        foreach (var (index, expected) in expectations.Pcrs)
        {
            if (!document.Pcrs.TryGetValue(index, out var actual))
            {
                failures.Add(new AttestationFailure(AttestationRules.PcrMismatch, $"The document has no PCR {index}; expected {Pcr.ToHex(expected)}."));
            }
            else if (!actual.AsSpan().SequenceEqual(expected))
            {
                failures.Add(new AttestationFailure(AttestationRules.PcrMismatch, $"PCR {index} is {Pcr.ToHex(actual)}; expected {Pcr.ToHex(expected)}."));
            }
        }

        CheckBytes(expectations.Nonce, document.Nonce, "nonce", AttestationRules.NonceMismatch, failures);
        CheckBytes(expectations.UserData, document.UserData, "user data", AttestationRules.UserDataMismatch, failures);
        CheckBytes(expectations.PublicKey, document.PublicKey, "public key", AttestationRules.PublicKeyMismatch, failures);
    }

    private static void CheckBytes(byte[]? expected, byte[]? actual, string field, string rule, List<AttestationFailure> failures)
    {
        if (expected is null)
        {
            return;
        }

        if (actual is null)
        {
            failures.Add(new AttestationFailure(rule, $"The document has no {field}; one was expected."));
        }
        else if (!actual.AsSpan().SequenceEqual(expected))
        {
            failures.Add(new AttestationFailure(rule, $"The document's {field} differs from the one expected."));
        }
    }
}
