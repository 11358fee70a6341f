using System.Formats.Cbor;
using NitroEnclave.Attestation;
using NitroEnclave.Cose;
using NitroEnclave.Tests.Attestation;

namespace NitroEnclave.Tests.Cose;

/// <summary>
/// The protected header is signed, but a header that can be read two ways is not one meaning signed: every label
/// appears once, labels are integers or text (RFC 9052 section 3), and text is valid UTF-8.
/// </summary>
public sealed class CoseSign1Tests
{
    /// <summary>{1: -35}, the protected header of both real documents.</summary>
    private static readonly byte[] Es384Header = [0xA1, 0x01, 0x38, 0x22];

    [Fact]
    public void The_protected_header_of_the_real_documents_gives_ES384()
    {
        Assert.Equal(Es384Header, CoseSign1.Decode(RealDocuments.Enclave).ProtectedHeader);
        Assert.Equal(-35, CoseSign1.Decode(WithProtectedHeader(Es384Header)).Algorithm);
    }

    public static TheoryData<string, byte[]> AmbiguousHeaders() => new()
    {
        // {1: -35, 1: -7}: read naively, the last algorithm wins.
        { "the algorithm twice", [0xA2, 0x01, 0x38, 0x22, 0x01, 0x26] },
        // The same label 1 in a one-byte and a two-byte integer: different bytes, one label.
        { "the algorithm twice in two integer widths", [0xA2, 0x01, 0x38, 0x22, 0x18, 0x01, 0x26] },
        { "a text label twice", [0xA3, 0x01, 0x38, 0x22, 0x61, 0x78, 0x00, 0x61, 0x78, 0x00] },
        { "a byte string label", [0xA2, 0x01, 0x38, 0x22, 0x41, 0x01, 0x00] },
        { "invalid UTF-8 in a text label", [0xA2, 0x01, 0x38, 0x22, 0x62, 0xC3, 0x28, 0x00] },
        { "invalid UTF-8 in a value", [0xA2, 0x01, 0x38, 0x22, 0x03, 0x62, 0xC3, 0x28] },
        { "a byte after the map", [0xA1, 0x01, 0x38, 0x22, 0x00] },
    };

    [Theory]
    [MemberData(nameof(AmbiguousHeaders))]
    public void An_ambiguous_protected_header_is_CoseMalformed(string why, byte[] header)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => CoseSign1.Decode(WithProtectedHeader(header)));

        Assert.True(error.ErrorId == CoseSign1.MalformedErrorId, why);
        Assert.Equal(ErrorKind.InvalidData, error.Kind);
    }

    [Fact]
    public void A_real_document_whose_protected_header_repeats_the_algorithm_is_AttestationMalformed()
    {
        var real = CoseSign1.Decode(RealDocuments.Enclave);
        // {1: -35, 1: -7} with the second 1 as 0x18 0x01, so it is the by-value check that must catch it.
        var rewritten = Encode([0xA2, 0x01, 0x38, 0x22, 0x18, 0x01, 0x26], real.Payload, real.Signature);

        var error = Assert.Throws<NitroEnclaveException>(() => AttestationDocument.Parse(rewritten));

        Assert.Equal(AttestationErrors.Malformed, error.ErrorId);
        Assert.Contains("label 1 twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_labels_in_the_unprotected_header_are_CoseMalformed()
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartArray(4);
        w.WriteByteString(Es384Header);
        w.WriteStartMap(2);
        w.WriteInt32(4);
        w.WriteByteString([1]);
        w.WriteInt32(4);
        w.WriteByteString([2]);
        w.WriteEndMap();
        w.WriteByteString([]);
        w.WriteByteString([]);
        w.WriteEndArray();

        Assert.Equal(CoseSign1.MalformedErrorId, Assert.Throws<NitroEnclaveException>(() => CoseSign1.Decode(w.Encode())).ErrorId);
    }

    private static byte[] WithProtectedHeader(byte[] header) => Encode(header, [1, 2, 3], new byte[96]);

    private static byte[] Encode(byte[] header, byte[] payload, byte[] signature)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartArray(4);
        w.WriteByteString(header);
        w.WriteStartMap(0);
        w.WriteEndMap();
        w.WriteByteString(payload);
        w.WriteByteString(signature);
        w.WriteEndArray();
        return w.Encode();
    }
}
