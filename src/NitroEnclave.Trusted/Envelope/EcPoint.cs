using System.Numerics;
using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>
/// SEC 1 section 2.3.3 compressed points for the signature keys of signed suites, which travel base64-encoded in the
/// "aws-crypto-public-key" context entry.
/// </summary>
internal static class EcPoint
{
    public static byte[] Compress(ECParameters parameters)
    {
        var x = parameters.Q.X!;
        var y = parameters.Q.Y!;
        var compressed = new byte[1 + x.Length];
        compressed[0] = (byte)((y[^1] & 1) == 0 ? 0x02 : 0x03);
        x.CopyTo(compressed, 1);
        return compressed;
    }

    /// <summary>Rebuilds the public key from a compressed point; throws EnvelopeMalformed if it is not on the curve.</summary>
    public static ECDsa Decompress(ReadOnlySpan<byte> compressed, AlgorithmSuite suite)
    {
        var size = suite.SignatureFieldLength;
        if (compressed.Length != size + 1 || compressed[0] is not (0x02 or 0x03))
        {
            throw Malformed("it is not a compressed point of the suite's curve");
        }

        var (p, b) = size == 32
            ? (Hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"), Hex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"))
            : (Hex("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"),
               Hex("b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef"));
        var x = new BigInteger(compressed[1..], isUnsigned: true, isBigEndian: true);
        if (x >= p)
        {
            throw Malformed("its x coordinate is not a field element");
        }

        // Both curves have p = 3 (mod 4), so a square root is a single exponentiation; a = -3.
        var rhs = Mod((BigInteger.ModPow(x, 3, p) - (3 * x) + b), p);
        var y = BigInteger.ModPow(rhs, (p + 1) / 4, p);
        if (BigInteger.ModPow(y, 2, p) != rhs)
        {
            throw Malformed("it is not on the curve");
        }

        if ((y.IsEven ? 0x02 : 0x03) != compressed[0])
        {
            y = p - y;
        }

        try
        {
            return ECDsa.Create(new ECParameters
            {
                Curve = suite.SignatureCurve!.Value,
                Q = new ECPoint { X = compressed[1..].ToArray(), Y = ToFixed(y, size) },
            });
        }
        catch (CryptographicException)
        {
            throw Malformed("it is not a valid public key");
        }
    }

    private static BigInteger Mod(BigInteger value, BigInteger modulus)
    {
        var r = value % modulus;
        return r.Sign < 0 ? r + modulus : r;
    }

    private static byte[] ToFixed(BigInteger value, int size)
    {
        var bytes = value.ToByteArray(isUnsigned: true, isBigEndian: true);
        var result = new byte[size];
        bytes.CopyTo(result, size - bytes.Length);
        return result;
    }

    private static BigInteger Hex(string hex) => new(Convert.FromHexString(hex), isUnsigned: true, isBigEndian: true);

    private static NitroEnclaveException Malformed(string reason) =>
        EnvelopeErrors.Invalid(EnvelopeErrors.Malformed, $"The signature verification key in the encryption context is invalid: {reason}.");
}
