using NitroEnclave.Eif;

namespace NitroEnclave.Enclave;

/// <summary>One measurement of an image against the value expected for it.</summary>
public sealed record EnclaveMeasurementTest(string Measurement, string Expected, string? Actual)
{
    /// <summary>Hex compared without regard to case; a PCR the image lacks (PCR8 of an unsigned image) does not match.</summary>
    public bool Matches => Actual is not null && string.Equals(Expected, Actual, StringComparison.OrdinalIgnoreCase);
}

/// <summary>Whether a (rebuilt) image has the measurements expected of it, measurement by measurement.</summary>
public sealed class EnclaveImageTestResult
{
    public EnclaveImageTestResult(string? path, IReadOnlyList<EnclaveMeasurementTest> measurements)
    {
        Path = path;
        Measurements = measurements;
    }

    public string? Path { get; }

    /// <summary>True when every expected measurement matches.</summary>
    public bool Matches => Measurements.All(m => m.Matches);

    public IReadOnlyList<EnclaveMeasurementTest> Measurements { get; }

    public IReadOnlyList<EnclaveMeasurementTest> Mismatches => [.. Measurements.Where(m => !m.Matches)];

    public const string ExpectedInvalid = "EnclaveImageExpectedInvalid";

    /// <summary>Compares the PCRs given in <paramref name="expected"/> (index to hex) with the image's.</summary>
    public static EnclaveImageTestResult Compare(EnclaveMeasurements actual, IReadOnlyDictionary<int, string> expected)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(expected);
        if (expected.Count == 0)
        {
            throw new NitroEnclaveException(ExpectedInvalid, ErrorKind.InvalidArgument, "No expected measurement was given: give PCR0, PCR1, PCR2 or PCR8.");
        }

        var values = actual.ToDictionary();
        var tests = new List<EnclaveMeasurementTest>();
        foreach (var (index, value) in expected.OrderBy(e => e.Key))
        {
            if (index is not (0 or 1 or 2 or 8))
            {
                throw new NitroEnclaveException(ExpectedInvalid, ErrorKind.InvalidArgument, $"PCR{index} is not a measurement of the image; an image has PCR0, PCR1, PCR2 and (signed) PCR8.");
            }

            if (!Pcr.IsHex384(value))
            {
                throw new NitroEnclaveException(ExpectedInvalid, ErrorKind.InvalidArgument, $"The expected PCR{index} is not 96 hex digits (a SHA-384 value).");
            }

            tests.Add(new EnclaveMeasurementTest("PCR" + index, value.ToLowerInvariant(), values.TryGetValue(index, out var a) ? a : null));
        }

        return new EnclaveImageTestResult(actual.Path, tests);
    }
}
