using System.Formats.Asn1;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NitroEnclave.Cose;

namespace NitroEnclave.Attestation;

/// <summary>
/// A Nitro attestation document: a COSE_Sign1 whose payload is a CBOR map of module_id, digest, timestamp, pcrs,
/// certificate, cabundle, public_key, user_data and nonce. Parsing checks structure and types only; whether the
/// document is genuine and meets the rules is <see cref="AttestationVerifier"/>'s job.
/// </summary>
public sealed class AttestationDocument
{
    /// <summary>Far above any real document (the NSM response buffer is 12 KiB); bounds what a reader allocates.</summary>
    public const int MaxEncodedSize = 1 << 20;

    private AttestationDocument(byte[] encoded, CoseSign1 cose)
    {
        Encoded = encoded;
        Cose = cose;
    }

    /// <summary>The document exactly as received.</summary>
    public byte[] Encoded { get; }

    /// <summary>The document's module id, such as i-0123456789abcdef0-enc0123456789abcdef.</summary>
    public string ModuleId { get; private set; } = string.Empty;

    /// <summary>The PCR digest algorithm the document declares; Nitro uses SHA384.</summary>
    public string Digest { get; private set; } = string.Empty;

    /// <summary>When the security module issued the document (UTC, millisecond precision).</summary>
    public DateTimeOffset Timestamp { get; private set; }

    /// <summary>The timestamp as encoded: milliseconds since the Unix epoch.</summary>
    public ulong TimestampMilliseconds { get; private set; }

    /// <summary>The PCR values by index, in ascending order.</summary>
    public IReadOnlyDictionary<int, byte[]> Pcrs { get; private set; } = new SortedDictionary<int, byte[]>();

    /// <summary>The PCR values by index as lowercase hex, the form Get-EnclavePcr and nitro-cli show.</summary>
    public IReadOnlyDictionary<int, string> PcrHex { get; private set; } = new SortedDictionary<int, string>();

    /// <summary>The leaf certificate whose key signed the document.</summary>
    public X509Certificate2 Certificate { get; private set; } = null!;

    /// <summary>The CA bundle, root first: root, regional, zonal, instance.</summary>
    public IReadOnlyList<X509Certificate2> CaBundle { get; private set; } = [];

    /// <summary>The public key the enclave asked to include (for example an RSA key for KMS recipients); null when absent.</summary>
    public byte[]? PublicKey { get; private set; }

    public byte[]? UserData { get; private set; }

    public byte[]? Nonce { get; private set; }

    /// <summary>Whether the payload map used indefinite-length encoding (documents from 2026 on) rather than a fixed count.</summary>
    public bool IsIndefiniteLengthMap { get; private set; }

    /// <summary>The COSE algorithm id of the protected header; Nitro uses -35 (ES384).</summary>
    public int Algorithm => Cose.Algorithm;

    /// <summary>The signed payload (the CBOR map) as encoded.</summary>
    public byte[] Payload => Cose.Payload;

    /// <summary>The raw signature, r || s.</summary>
    public byte[] Signature => Cose.Signature;

    internal CoseSign1 Cose { get; }

    /// <summary>
    /// True when the image measurements PCR0, PCR1 and PCR2 are all zero bytes, as in documents from enclaves started
    /// in debug mode (PCR3 and PCR4, the IAM role and instance, are still set there).
    /// </summary>
    public bool IsDebugMode => Enumerable.Range(0, 3).All(i => Pcrs.TryGetValue(i, out var value) && !value.AsSpan().ContainsAnyExcept((byte)0));

    /// <summary>The PCR value at <paramref name="index"/> as lowercase hex, or null when the document has none.</summary>
    public string? GetPcrHex(int index) => PcrHex.TryGetValue(index, out var hex) ? hex : null;

    public override string ToString() => FormattableString.Invariant($"{ModuleId} at {Timestamp:u}{(IsDebugMode ? " (debug mode)" : string.Empty)}");

    /// <summary>Parses a document from its CBOR encoding; any malformation raises <see cref="AttestationErrors.Malformed"/>.</summary>
    public static AttestationDocument Parse(ReadOnlyMemory<byte> encoded)
    {
        if (encoded.Length > MaxEncodedSize)
        {
            throw AttestationErrors.MalformedDocument($"{encoded.Length} bytes is larger than any attestation document ({MaxEncodedSize} at most).");
        }

        if (encoded.IsEmpty)
        {
            throw AttestationErrors.MalformedDocument("the input is empty.");
        }

        CoseSign1 cose;
        try
        {
            cose = CoseSign1.Decode(encoded);
        }
        catch (NitroEnclaveException ex) when (ex.ErrorId == CoseSign1.MalformedErrorId)
        {
            throw AttestationErrors.MalformedDocument(ex.Message, ex);
        }

        var document = new AttestationDocument(encoded.ToArray(), cose);
        try
        {
            document.ReadPayload();
        }
        catch (Exception ex) when (ex is CborContentException or InvalidOperationException or FormatException or OverflowException or ArgumentException or CryptographicException or AsnContentException)
        {
            throw AttestationErrors.MalformedDocument(ex.Message, ex);
        }

        return document;
    }

    /// <summary>Parses a document given as base64 text (whitespace is ignored).</summary>
    public static AttestationDocument ParseBase64(string base64)
    {
        ArgumentNullException.ThrowIfNull(base64);
        return Parse(DecodeBase64(base64));
    }

    /// <summary>
    /// Parses file or stream content that is either the raw CBOR document or its base64 text, as saved by
    /// `base64` or by tools that print the document.
    /// </summary>
    public static AttestationDocument ParseBinaryOrBase64(ReadOnlyMemory<byte> content)
    {
        var span = content.Span;
        // A COSE_Sign1 starts with a 4-element array (0x84) or tag 18 (0xD2); neither is a base64 character.
        if (span.IsEmpty || span[0] is 0x84 or 0x9F or 0xD2)
        {
            return Parse(content);
        }

        return Parse(DecodeBase64(System.Text.Encoding.ASCII.GetString(span.StartsWith("\uFEFF"u8) ? span[3..] : span)));
    }

    /// <summary>Reads a document file, raw CBOR or base64 text.</summary>
    public static AttestationDocument Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        // Base64 text is 4/3 the size of the document, plus line breaks.
        if (stream.Length > MaxEncodedSize * 2L)
        {
            throw AttestationErrors.MalformedDocument($"the file is {stream.Length} bytes, larger than any attestation document.");
        }

        var content = new byte[stream.Length];
        stream.ReadExactly(content);
        return ParseBinaryOrBase64(content);
    }

    private static byte[] DecodeBase64(string text)
    {
        var compact = string.Concat(text.Where(c => !char.IsWhiteSpace(c)));
        if (compact.Length > MaxEncodedSize * 2)
        {
            throw AttestationErrors.MalformedDocument("the base64 text is larger than any attestation document.");
        }

        try
        {
            return Convert.FromBase64String(compact);
        }
        catch (FormatException ex)
        {
            throw AttestationErrors.MalformedDocument("the input is neither a CBOR attestation document nor valid base64 text.", ex);
        }
    }

    private void ReadPayload()
    {
        // Strict, so text that is not UTF-8 is refused rather than read as U+FFFD; the real documents are not Canonical
        // (unsorted keys, and since 2026 an indefinite-length map). Keys are also compared by value below, which
        // catches a key repeated in another encoding.
        var reader = new CborReader(Cose.Payload, CborConformanceMode.Strict);
        var count = reader.ReadStartMap();
        IsIndefiniteLengthMap = count is null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            var key = reader.ReadTextString();
            if (!seen.Add(key))
            {
                throw AttestationErrors.MalformedDocument($"the payload has the key '{key}' twice.");
            }

            switch (key)
            {
                case "module_id":
                    ModuleId = reader.ReadTextString();
                    break;
                case "digest":
                    Digest = reader.ReadTextString();
                    break;
                case "timestamp":
                    ReadTimestamp(reader.ReadUInt64());
                    break;
                case "pcrs":
                    ReadPcrs(reader);
                    break;
                case "certificate":
                    Certificate = ReadCertificate(reader.ReadByteString(), "certificate");
                    break;
                case "cabundle":
                    ReadCaBundle(reader);
                    break;
                case "public_key":
                    PublicKey = ReadOptionalBytes(reader);
                    break;
                case "user_data":
                    UserData = ReadOptionalBytes(reader);
                    break;
                case "nonce":
                    Nonce = ReadOptionalBytes(reader);
                    break;
                default:
                    reader.SkipValue(); // fields added by later versions do not change what is verified
                    break;
            }
        }

        reader.ReadEndMap();
        if (reader.BytesRemaining != 0)
        {
            throw AttestationErrors.MalformedDocument("trailing bytes after the payload map.");
        }

        foreach (var required in (ReadOnlySpan<string>)["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"])
        {
            if (!seen.Contains(required))
            {
                throw AttestationErrors.MalformedDocument($"the payload has no '{required}'.");
            }
        }
    }

    private void ReadTimestamp(ulong milliseconds)
    {
        if (milliseconds > (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            throw AttestationErrors.MalformedDocument($"the timestamp {milliseconds} is beyond any representable date.");
        }

        TimestampMilliseconds = milliseconds;
        Timestamp = DateTimeOffset.FromUnixTimeMilliseconds((long)milliseconds);
    }

    private void ReadPcrs(CborReader reader)
    {
        var pcrs = new SortedDictionary<int, byte[]>();
        reader.ReadStartMap();
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            var index = reader.ReadUInt64();
            if (index > int.MaxValue)
            {
                throw AttestationErrors.MalformedDocument($"the PCR index {index} is out of range.");
            }

            if (!pcrs.TryAdd((int)index, reader.ReadByteString()))
            {
                throw AttestationErrors.MalformedDocument($"PCR {index} appears twice.");
            }
        }

        reader.ReadEndMap();
        Pcrs = pcrs;
        PcrHex = new SortedDictionary<int, string>(pcrs.ToDictionary(p => p.Key, p => Pcr.ToHex(p.Value)));
    }

    private void ReadCaBundle(CborReader reader)
    {
        var bundle = new List<X509Certificate2>();
        reader.ReadStartArray();
        while (reader.PeekState() != CborReaderState.EndArray)
        {
            bundle.Add(ReadCertificate(reader.ReadByteString(), $"cabundle[{bundle.Count}]"));
        }

        reader.ReadEndArray();
        CaBundle = bundle;
    }

    private static byte[]? ReadOptionalBytes(CborReader reader)
    {
        if (reader.PeekState() == CborReaderState.Null)
        {
            reader.ReadNull();
            return null;
        }

        return reader.ReadByteString();
    }

    /// <summary>Reads one DER certificate; anything else (PEM, PKCS#7, trailing bytes) is malformed.</summary>
    private static X509Certificate2 ReadCertificate(byte[] der, string field)
    {
        var asn = new AsnReader(der, AsnEncodingRules.DER);
        asn.ReadEncodedValue();
        if (asn.HasData || der[0] != 0x30)
        {
            throw AttestationErrors.MalformedDocument($"the {field} is not a single DER certificate.");
        }

        try
        {
            var certificate = new X509Certificate2(der);
            ReadEveryField(certificate);
            return certificate;
        }
        catch (CryptographicException ex)
        {
            throw AttestationErrors.MalformedDocument($"the {field} is not a valid X.509 certificate: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// X509Certificate2 decodes most fields on first use; touching every field the verifier reads here turns a damaged
    /// certificate into a parse error instead of an exception in the middle of verification.
    /// </summary>
    private static void ReadEveryField(X509Certificate2 certificate)
    {
        _ = certificate.NotBefore;
        _ = certificate.NotAfter;
        _ = certificate.Subject;
        _ = certificate.Issuer;
        _ = certificate.SerialNumber;
        foreach (var extension in certificate.Extensions)
        {
            switch (extension)
            {
                case X509BasicConstraintsExtension constraints:
                    _ = constraints.CertificateAuthority;
                    _ = constraints.PathLengthConstraint;
                    break;
                case X509KeyUsageExtension usage:
                    _ = usage.KeyUsages;
                    break;
            }
        }

        using var key = certificate.GetECDsaPublicKey();
        _ = key?.KeySize;
    }
}
