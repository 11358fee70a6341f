using NitroEnclave.Attestation;

namespace NitroEnclave.Tests.Attestation;

/// <summary>
/// Thousands of damaged documents: every one must parse or fail with a typed error. One parsed document in eight also
/// goes through the full verifier, which must report rules rather than throw (all of them would make the test slow:
/// a full chain check costs five ECDSA P-384 verifications).
/// </summary>
public sealed class AttestationFuzzTests
{
    [Fact]
    public void Mutated_documents_either_parse_or_raise_AttestationMalformed()
    {
        var random = new Random(20240601);
        var seeds = new[] { RealDocuments.Debug, RealDocuments.Enclave };
        var verifier = new AttestationVerifier();
        var outcomes = new Dictionary<string, int>();

        for (var i = 0; i < 3000; i++)
        {
            var seed = seeds[i % 2];
            var mutated = Mutate(seed, random);
            string outcome;
            try
            {
                var document = AttestationDocument.Parse(mutated);
                outcome = i % 8 != 0 ? "parsed" : verifier.Verify(document, null, document.Timestamp).IsValid ? "valid" : "invalid";
                if (outcome == "valid")
                {
                    // Only a mutation that left the signed content as it was may still verify.
                    Assert.Equal(seed, mutated);
                }
            }
            catch (NitroEnclaveException ex)
            {
                Assert.Equal(AttestationErrors.Malformed, ex.ErrorId);
                outcome = "malformed";
            }

            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        Assert.True(outcomes.GetValueOrDefault("malformed") > 500, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("invalid") > 20, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("parsed") > 200, string.Join(", ", outcomes));
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = (byte[])seed.Clone();
        switch (random.Next(6))
        {
            case 0: // bit flips
                for (var n = random.Next(1, 4); n > 0; n--)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }

                return bytes;
            case 1: // truncation
                return bytes[..random.Next(bytes.Length)];
            case 2: // random bytes, sometimes behind a valid-looking start
                var noise = new byte[random.Next(1, 600)];
                random.NextBytes(noise);
                return random.Next(2) == 0 ? noise : [.. bytes[..random.Next(1, 40)], .. noise];
            case 3: // CBOR major type swap of one byte
                var at = random.Next(bytes.Length);
                bytes[at] = (byte)((bytes[at] & 0x1F) | (random.Next(8) << 5));
                return bytes;
            case 4: // a huge declared length (8-byte length argument) spliced in
                var position = random.Next(bytes.Length);
                byte[] huge = [(byte)((random.Next(2, 6) << 5) | 27), 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, (byte)random.Next(256)];
                return [.. bytes[..position], .. huge, .. bytes[position..]];
            default: // a deep nest of arrays or indefinite maps
                var depth = random.Next(1, 2000);
                var nest = Enumerable.Repeat((byte)(random.Next(2) == 0 ? 0x81 : 0xBF), depth).ToArray();
                var start = random.Next(bytes.Length);
                return [.. bytes[..start], .. nest, .. bytes[start..]];
        }
    }
}
