using System.Formats.Cbor;
using System.Security.Cryptography;

namespace NitroEnclave.Cose;

/// <summary>
/// A COSE_Sign1 message (RFC 9052 section 4.2), tagged (18) or untagged, with an ECDSA algorithm in its
/// protected header. Used by EIF signatures and Nitro attestation documents.
/// </summary>
public sealed class CoseSign1
{
    public const string MalformedErrorId = "CoseMalformed";
    private const int CoseSign1Tag = 18;
    private const int AlgorithmLabel = 1;

    private CoseSign1(byte[] protectedHeader, byte[] payload, byte[] signature, int algorithm)
    {
        ProtectedHeader = protectedHeader;
        Payload = payload;
        Signature = signature;
        Algorithm = algorithm;
    }

    /// <summary>The protected header exactly as encoded (it is part of the signed data).</summary>
    public byte[] ProtectedHeader { get; }

    public byte[] Payload { get; }

    /// <summary>The raw signature: r || s for ECDSA.</summary>
    public byte[] Signature { get; }

    /// <summary>The COSE algorithm id: -7 ES256, -35 ES384, -36 ES512.</summary>
    public int Algorithm { get; }

    public static CoseSign1 Decode(ReadOnlyMemory<byte> encoded)
    {
        try
        {
            // Strict: text must be valid UTF-8 and no map may repeat a key's bytes. Not Canonical: the NSM does not
            // sort its map keys and writes indefinite-length maps since 2026.
            var reader = new CborReader(encoded, CborConformanceMode.Strict);
            if (reader.PeekState() == CborReaderState.Tag)
            {
                var tag = reader.ReadTag();
                if ((ulong)tag != CoseSign1Tag)
                {
                    throw Malformed($"unexpected CBOR tag {(ulong)tag}, COSE_Sign1 is tag 18");
                }
            }

            var count = reader.ReadStartArray();
            if (count is not null and not 4)
            {
                throw Malformed($"a COSE_Sign1 array has 4 elements, found {count}");
            }

            var protectedHeader = reader.ReadByteString();
            reader.SkipValue(); // unprotected header: nothing in it is trusted
            byte[] payload = reader.PeekState() == CborReaderState.Null ? ReadNullAsEmpty(reader) : reader.ReadByteString();
            var signature = reader.ReadByteString();
            reader.ReadEndArray();
            if (reader.BytesRemaining != 0)
            {
                throw Malformed("trailing bytes after the COSE_Sign1 array");
            }

            return new CoseSign1(protectedHeader, payload, signature, ReadAlgorithm(protectedHeader));
        }
        catch (Exception ex) when (ex is CborContentException or InvalidOperationException or FormatException or OverflowException)
        {
            throw Malformed(ex.Message, ex);
        }
    }

    /// <summary>The Sig_structure that the signature covers: ["Signature1", protected, external_aad = h'', payload].</summary>
    public byte[] ToBeSigned()
    {
        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteStartArray(4);
        writer.WriteTextString("Signature1");
        writer.WriteByteString(ProtectedHeader);
        writer.WriteByteString([]);
        writer.WriteByteString(Payload);
        writer.WriteEndArray();
        return writer.Encode();
    }

    public bool VerifySignature(ECDsa publicKey)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        var hash = HashFor(Algorithm);
        return publicKey.VerifyData(ToBeSigned(), Signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>Encodes an untagged COSE_Sign1 signed with <paramref name="key"/> (ES384 for P-384).</summary>
    public static byte[] Sign(byte[] payload, ECDsa key, int algorithm = -35)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(key);
        var header = new CborWriter(CborConformanceMode.Lax);
        header.WriteStartMap(1);
        header.WriteInt32(AlgorithmLabel);
        header.WriteInt32(algorithm);
        header.WriteEndMap();
        var protectedHeader = header.Encode();
        var unsigned = new CoseSign1(protectedHeader, payload, [], algorithm);
        var signature = key.SignData(unsigned.ToBeSigned(), HashFor(algorithm), DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteStartArray(4);
        writer.WriteByteString(protectedHeader);
        writer.WriteStartMap(0);
        writer.WriteEndMap();
        writer.WriteByteString(payload);
        writer.WriteByteString(signature);
        writer.WriteEndArray();
        return writer.Encode();
    }

    private static HashAlgorithmName HashFor(int algorithm) => algorithm switch
    {
        -7 => HashAlgorithmName.SHA256,
        -35 => HashAlgorithmName.SHA384,
        -36 => HashAlgorithmName.SHA512,
        _ => throw new NitroEnclaveException(MalformedErrorId, ErrorKind.InvalidData, $"unsupported COSE algorithm {algorithm}; expected an ECDSA algorithm (-7, -35, -36)"),
    };

    private static byte[] ReadNullAsEmpty(CborReader reader)
    {
        reader.ReadNull();
        return [];
    }

    /// <summary>
    /// Reads the algorithm from the protected header. A label is an integer or text (RFC 9052 section 3) and appears
    /// once, compared by value: the Strict reader only catches a key repeated byte for byte, not 1 written as 0x18 0x01.
    /// </summary>
    private static int ReadAlgorithm(byte[] protectedHeader)
    {
        var reader = new CborReader(protectedHeader, CborConformanceMode.Strict);
        reader.ReadStartMap();
        var labels = new HashSet<object>();
        int? algorithm = null;
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            object label = reader.PeekState() switch
            {
                CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger => reader.ReadInt64(),
                CborReaderState.TextString => reader.ReadTextString(),
                _ => throw Malformed("a protected header label is neither an integer nor text"),
            };
            if (!labels.Add(label))
            {
                throw Malformed(label is long number ? $"the protected header has the label {number} twice" : "the protected header has a text label twice");
            }

            if (label is long key && key == AlgorithmLabel)
            {
                algorithm = reader.ReadInt32();
            }
            else
            {
                reader.SkipValue();
            }
        }

        reader.ReadEndMap();
        if (reader.BytesRemaining != 0)
        {
            throw Malformed("trailing bytes after the protected header map");
        }

        return algorithm ?? throw Malformed("the protected header has no algorithm (label 1)");
    }

    private static NitroEnclaveException Malformed(string detail, Exception? inner = null) =>
        new(MalformedErrorId, ErrorKind.InvalidData, "Malformed COSE_Sign1 message: " + detail, inner);
}
