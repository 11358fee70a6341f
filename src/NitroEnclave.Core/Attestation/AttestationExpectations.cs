using NitroEnclave.Eif;

namespace NitroEnclave.Attestation;

/// <summary>What a caller expects of a document beyond its authenticity: PCR values, nonce, user data, public key, age.</summary>
public sealed class AttestationExpectations
{
    private readonly SortedDictionary<int, byte[]> _pcrs = [];

    /// <summary>Expected PCR values by index; PCRs not listed are not compared.</summary>
    public IReadOnlyDictionary<int, byte[]> Pcrs => _pcrs;

    /// <summary>The nonce the caller sent with the attestation request; null when none was sent.</summary>
    public byte[]? Nonce { get; set; }

    public byte[]? UserData { get; set; }

    public byte[]? PublicKey { get; set; }

    /// <summary>The oldest a document may be, measured from its timestamp to the verification time.</summary>
    public TimeSpan? MaxAge { get; set; }

    public AttestationExpectations ExpectPcr(int index, ReadOnlySpan<byte> value)
    {
        if (index is < 0 or >= AttestationVerifier.MaxPcrs)
        {
            throw new NitroEnclaveException(AttestationErrors.ExpectationInvalid, ErrorKind.InvalidArgument, $"PCR index {index} is out of range; Nitro has PCRs 0 to {AttestationVerifier.MaxPcrs - 1}.");
        }

        if (value.Length is not (32 or 48 or 64))
        {
            throw new NitroEnclaveException(AttestationErrors.ExpectationInvalid, ErrorKind.InvalidArgument, $"The expected value of PCR {index} has {value.Length} bytes; a PCR has 32, 48 or 64.");
        }

        _pcrs[index] = value.ToArray();
        return this;
    }

    /// <summary>Adds an expected PCR value given as hex text, in either case.</summary>
    public AttestationExpectations ExpectPcr(int index, string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var trimmed = hex.Trim();
        if (trimmed.Length == 0 || trimmed.Length % 2 != 0 || !trimmed.All(Uri.IsHexDigit))
        {
            throw new NitroEnclaveException(AttestationErrors.ExpectationInvalid, ErrorKind.InvalidArgument, $"The expected value of PCR {index} is not hex text.");
        }

        return ExpectPcr(index, Convert.FromHexString(trimmed));
    }

    /// <summary>Expects the PCRs an enclave image measures to: PCR0, PCR1, PCR2, and PCR8 when the image is signed.</summary>
    public AttestationExpectations ExpectPcrs(EnclaveMeasurements measurements)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        foreach (var (index, hex) in measurements.ToDictionary())
        {
            ExpectPcr(index, hex);
        }

        return this;
    }
}
