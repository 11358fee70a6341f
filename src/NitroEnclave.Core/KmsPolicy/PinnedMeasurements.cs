namespace NitroEnclave.KmsPolicy;

/// <summary>
/// The enclave measurements a key policy pins, as the lowercase hex KMS compares against the attestation document.
/// Only the measurements given are pinned; ImageSha384 is the same value as PCR0 (nitro.md section 7) and defaults to it.
/// </summary>
public sealed class PinnedMeasurements
{
    public const string ConditionKeyPrefix = "kms:RecipientAttestation:";

    private PinnedMeasurements(IReadOnlyList<KeyValuePair<string, string>> conditionValues) => ConditionValues = conditionValues;

    /// <summary>Condition key (for example kms:RecipientAttestation:PCR0) and pinned value, in a fixed order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ConditionValues { get; }

    public string? ImageSha384 => ValueOf("ImageSha384");

    public string? Pcr0 => ValueOf("PCR0");

    public string? Pcr1 => ValueOf("PCR1");

    public string? Pcr2 => ValueOf("PCR2");

    public string? Pcr8 => ValueOf("PCR8");

    /// <summary>
    /// Validates and lowercases the values (96 hex digits each). At least one is required. All-zero values are refused:
    /// every debug-mode enclave reports them, so pinning them would let any debug enclave decrypt.
    /// </summary>
    public static PinnedMeasurements Create(string? pcr0, string? pcr1, string? pcr2, string? pcr8, string? imageSha384 = null)
    {
        var pcr0Value = Normalise("PCR0", pcr0);
        var imageValue = Normalise("ImageSha384", imageSha384);
        if (imageValue is not null && pcr0Value is not null && imageValue != pcr0Value)
        {
            throw new NitroEnclaveException(KeyPolicyErrors.ImageSha384Mismatch, ErrorKind.InvalidArgument,
                "ImageSha384 differs from PCR0: KMS reports the same value for both, so no enclave could ever match this policy.");
        }

        var values = new List<KeyValuePair<string, string>>();
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                values.Add(new(ConditionKeyPrefix + name, value));
            }
        }

        Add("ImageSha384", imageValue ?? pcr0Value);
        Add("PCR0", pcr0Value);
        Add("PCR1", Normalise("PCR1", pcr1));
        Add("PCR2", Normalise("PCR2", pcr2));
        Add("PCR8", Normalise("PCR8", pcr8));
        if (values.Count == 0)
        {
            throw new NitroEnclaveException(KeyPolicyErrors.MeasurementMissing, ErrorKind.InvalidArgument,
                "Give at least one measurement (PCR0, PCR1, PCR2, PCR8 or ImageSha384), for example from Get-EnclavePcr.");
        }

        return new PinnedMeasurements(values);
    }

    private string? ValueOf(string name) =>
        ConditionValues.FirstOrDefault(v => v.Key == ConditionKeyPrefix + name).Value;

    private static string? Normalise(string name, string? value)
    {
        if (value is null)
        {
            return null;
        }

        var trimmed = value.Trim();
        if (!Pcr.IsHex384(trimmed))
        {
            throw new NitroEnclaveException(KeyPolicyErrors.MeasurementInvalid, ErrorKind.InvalidArgument,
                $"{name} must be 96 hexadecimal digits (a SHA-384 value); got {trimmed.Length} characters.");
        }

        if (trimmed.All(c => c == '0'))
        {
            throw new NitroEnclaveException(KeyPolicyErrors.MeasurementAllZero, ErrorKind.InvalidArgument,
                $"{name} is all zeros, which every debug-mode enclave reports: pin the measurements of a production build.");
        }

        return trimmed.ToLowerInvariant();
    }
}
