using System.Buffers.Binary;
using System.Formats.Cbor;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NitroEnclave.Cose;

namespace NitroEnclave.Eif;

/// <summary>What goes into an Enclave Image File.</summary>
public sealed class EnclaveImageContent
{
    public required EifBlob Kernel { get; init; }

    /// <summary>The kernel command line, stored without a terminating NUL (as nitro-cli stores its trimmed cmdline file).</summary>
    public required string Cmdline { get; init; }

    /// <summary>The bootstrap ramdisk first (measured into PCR1), then the application ramdisks (PCR2).</summary>
    public required IReadOnlyList<EifBlob> Ramdisks { get; init; }

    /// <summary>The metadata section's JSON (EIF version 4).</summary>
    public required byte[] Metadata { get; init; }

    /// <summary>Sets the header's aarch64 flag.</summary>
    public bool Aarch64 { get; init; }

    /// <summary>When set, a signature section over PCR0 is added, so the enclave's PCR8 holds the certificate's measurement.</summary>
    public EifSigningKey? Signer { get; init; }
}

/// <summary>The certificate (PEM, stored as given) and its ECDSA private key that sign PCR0.</summary>
public sealed class EifSigningKey : IDisposable
{
    public EifSigningKey(string certificatePem, ECDsa privateKey)
    {
        ArgumentNullException.ThrowIfNull(certificatePem);
        ArgumentNullException.ThrowIfNull(privateKey);
        CertificatePem = certificatePem;
        Certificate = X509Certificate2.CreateFromPem(certificatePem);
        PrivateKey = privateKey;
        using var publicKey = Certificate.GetECDsaPublicKey()
            ?? throw new NitroEnclaveException(EifErrors.SigningKeyMismatch, ErrorKind.InvalidArgument, "The signing certificate does not hold an ECDSA public key.");
        var certificateKey = publicKey.ExportSubjectPublicKeyInfo();
        if (!certificateKey.AsSpan().SequenceEqual(privateKey.ExportSubjectPublicKeyInfo()))
        {
            throw new NitroEnclaveException(EifErrors.SigningKeyMismatch, ErrorKind.InvalidArgument, "The signing key is not the private key of the signing certificate.");
        }

        Algorithm = privateKey.KeySize switch
        {
            256 => -7,
            384 => -35,
            521 => -36,
            _ => throw new NitroEnclaveException(EifErrors.SigningKeyMismatch, ErrorKind.InvalidArgument, $"ECDSA keys of {privateKey.KeySize} bits cannot sign an image; use P-256, P-384 or P-521."),
        };
    }

    public string CertificatePem { get; }

    public X509Certificate2 Certificate { get; }

    public ECDsa PrivateKey { get; }

    /// <summary>The COSE algorithm (ES256, ES384 or ES512) the key's curve gives.</summary>
    public int Algorithm { get; }

    public void Dispose()
    {
        Certificate.Dispose();
        PrivateKey.Dispose();
    }
}

/// <summary>
/// Writes Enclave Image Files laid out as nitro-cli's EifBuilder writes them (aws-nitro-enclaves-image-format):
/// a 548-byte big-endian header (version 4, 1 GiB and 2 CPUs by default, the section table, CRC-32 last), then the
/// kernel, command line, metadata, each ramdisk and the signature, each behind a 12-byte section header. Nothing in
/// the output comes from the clock or the machine: the same content gives the same bytes, except the ECDSA signature,
/// which is randomised (it is not measured; PCR8 is the certificate's).
/// </summary>
public static class EnclaveImageWriter
{
    private const ushort Version = 4;
    private const ulong DefaultMemory = 1UL << 30;
    private const ulong DefaultCpus = 2;

    public static void Write(string path, EnclaveImageContent content)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(file, content);
    }

    /// <summary>Writes the image to a stream positioned at its start.</summary>
    public static void Write(Stream output, EnclaveImageContent content)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(content);
        if (content.Ramdisks.Count == 0)
        {
            throw new ArgumentException("An image needs at least one ramdisk.", nameof(content));
        }

        var cmdline = System.Text.Encoding.UTF8.GetBytes(content.Cmdline);
        if (Array.IndexOf(cmdline, (byte)0) >= 0)
        {
            throw new ArgumentException("The kernel command line holds a NUL character.", nameof(content));
        }

        List<(EifSectionType Type, EifBlob Data)> sections =
        [
            (EifSectionType.Kernel, content.Kernel),
            (EifSectionType.Cmdline, EifBlob.FromBytes(cmdline)),
            (EifSectionType.Metadata, EifBlob.FromBytes(content.Metadata)),
            .. content.Ramdisks.Select(r => (EifSectionType.Ramdisk, r)),
        ];
        if (content.Signer is { } signer)
        {
            sections.Add((EifSectionType.Signature, EifBlob.FromBytes(SignatureSection(signer, MeasurePcr0(sections)))));
        }

        if (sections.Count > EnclaveImageReader.MaxSections)
        {
            throw new ArgumentException($"An image has at most {EnclaveImageReader.MaxSections} sections.", nameof(content));
        }

        var header = new byte[EnclaveImageReader.HeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(header, 0x2E656966); // ".eif"
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), content.Aarch64 ? (ushort)1 : (ushort)0);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), DefaultMemory);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), DefaultCpus);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(26), (ushort)sections.Count);
        var offset = (ulong)EnclaveImageReader.HeaderSize;
        for (var i = 0; i < sections.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(28 + (8 * i)), offset);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(284 + (8 * i)), (ulong)sections[i].Data.Length);
            offset += EnclaveImageReader.SectionHeaderSize + (ulong)sections[i].Data.Length;
        }

        // The CRC covers everything but its own field, the header's last: write the rest, then come back for it.
        var start = output.Position;
        var crc = new Crc32();
        var counted = new CountingStream(output, crc.Append);
        counted.Write(header.AsSpan(0, header.Length - 4));
        output.Write(stackalloc byte[4]);
        var sectionHeader = new byte[EnclaveImageReader.SectionHeaderSize];
        foreach (var (type, data) in sections)
        {
            BinaryPrimitives.WriteUInt16BigEndian(sectionHeader, (ushort)type);
            BinaryPrimitives.WriteUInt64BigEndian(sectionHeader.AsSpan(4), (ulong)data.Length);
            counted.Write(sectionHeader);
            var before = counted.Count;
            data.WriteTo(counted);
            if (counted.Count - before != data.Length)
            {
                throw new NitroEnclaveException(EifErrors.ContentChanged, ErrorKind.InvalidData, $"The {type} section changed while the image was written.");
            }
        }

        var end = output.Position;
        output.Position = start + header.Length - 4;
        Span<byte> crcBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc.GetCurrentHashAsUInt32());
        output.Write(crcBytes);
        output.Position = end;
        output.Flush();
    }

    /// <summary>PCR0 of the sections: the kernel, command line and ramdisks in file order.</summary>
    private static byte[] MeasurePcr0(List<(EifSectionType Type, EifBlob Data)> sections)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        var sink = new CountingStream(Stream.Null, hash.AppendData);
        foreach (var (type, data) in sections)
        {
            if (type is EifSectionType.Kernel or EifSectionType.Cmdline or EifSectionType.Ramdisk)
            {
                data.WriteTo(sink);
            }
        }

        return Pcr.FromDigest(hash.GetHashAndReset());
    }

    /// <summary>
    /// nitro-cli's signature section: serde_cbor of [{signing_certificate, signature}] where the signature is an untagged
    /// COSE_Sign1 over {register_index: 0, register_value: PCR0}; serde writes each byte field as an array of integers.
    /// </summary>
    private static byte[] SignatureSection(EifSigningKey signer, byte[] pcr0)
    {
        var payload = new CborWriter(CborConformanceMode.Lax);
        payload.WriteStartMap(2);
        payload.WriteTextString("register_index");
        payload.WriteInt32(0);
        payload.WriteTextString("register_value");
        WriteByteArray(payload, pcr0);
        payload.WriteEndMap();
        var cose = CoseSign1.Sign(payload.Encode(), signer.PrivateKey, signer.Algorithm);

        var section = new CborWriter(CborConformanceMode.Lax);
        section.WriteStartArray(1);
        section.WriteStartMap(2);
        section.WriteTextString("signing_certificate");
        WriteByteArray(section, System.Text.Encoding.ASCII.GetBytes(signer.CertificatePem));
        section.WriteTextString("signature");
        WriteByteArray(section, cose);
        section.WriteEndMap();
        section.WriteEndArray();
        return section.Encode();
    }

    private static void WriteByteArray(CborWriter writer, byte[] bytes)
    {
        writer.WriteStartArray(bytes.Length);
        foreach (var b in bytes)
        {
            writer.WriteUInt32(b);
        }

        writer.WriteEndArray();
    }
}
