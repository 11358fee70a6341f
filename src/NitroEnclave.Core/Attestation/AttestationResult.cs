using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Attestation;

/// <summary>One check a document failed: the rule's stable id (see <see cref="AttestationRules"/>) and why.</summary>
public sealed class AttestationFailure
{
    public AttestationFailure(string rule, string reason)
    {
        Rule = rule;
        Reason = reason;
    }

    public string Rule { get; }

    public string Reason { get; }

    public override string ToString() => $"{Rule}: {Reason}";
}

/// <summary>The identifying facts of one certificate of a document's chain.</summary>
public sealed class AttestationCertificateSummary
{
    public AttestationCertificateSummary(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Subject = certificate.Subject;
        Issuer = certificate.Issuer;
        SerialNumber = certificate.SerialNumber;
        NotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        Sha256Fingerprint = Convert.ToHexString(SHA256.HashData(certificate.RawData)).ToLowerInvariant();
    }

    public string Subject { get; }

    public string Issuer { get; }

    public string SerialNumber { get; }

    public DateTimeOffset NotBefore { get; }

    public DateTimeOffset NotAfter { get; }

    /// <summary>SHA-256 of the DER certificate, lowercase hex.</summary>
    public string Sha256Fingerprint { get; }

    public override string ToString() => Subject;
}

/// <summary>The outcome of verifying an attestation document: valid only when no check failed.</summary>
public sealed class AttestationResult
{
    internal AttestationResult(AttestationDocument document, DateTimeOffset verifiedAt, IReadOnlyList<AttestationFailure> failures, IReadOnlyList<X509Certificate2> chain)
    {
        Document = document;
        VerifiedAt = verifiedAt;
        Failures = failures;
        Certificate = new AttestationCertificateSummary(document.Certificate);
        Chain = chain.Select(c => new AttestationCertificateSummary(c)).ToArray();
    }

    public bool IsValid => Failures.Count == 0;

    /// <summary>Every check that failed, in the order they were made.</summary>
    public IReadOnlyList<AttestationFailure> Failures { get; }

    /// <summary>The ids of the failed rules, without repeats.</summary>
    public IReadOnlyList<string> FailedRules => Failures.Select(f => f.Rule).Distinct(StringComparer.Ordinal).ToArray();

    public string ModuleId => Document.ModuleId;

    public DateTimeOffset Timestamp => Document.Timestamp;

    /// <summary>The document's PCRs as lowercase hex, indexed by PCR number.</summary>
    public IReadOnlyDictionary<int, string> Pcrs => Document.PcrHex;

    /// <summary>The leaf certificate that signed the document.</summary>
    public AttestationCertificateSummary Certificate { get; }

    /// <summary>The chain as checked, leaf first, ending with the bundle's root.</summary>
    public IReadOnlyList<AttestationCertificateSummary> Chain { get; }

    /// <summary>The time the chain's validity was checked at (the caller's, or the clock's).</summary>
    public DateTimeOffset VerifiedAt { get; }

    public AttestationDocument Document { get; }

    /// <summary>Whether the rule <paramref name="rule"/> failed.</summary>
    public bool Failed(string rule) => Failures.Any(f => f.Rule == rule);

    public override string ToString() => IsValid ? $"Valid ({ModuleId})" : $"Invalid ({string.Join(", ", FailedRules)})";
}
