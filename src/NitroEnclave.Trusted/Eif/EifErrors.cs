namespace NitroEnclave.Eif;

/// <summary>The stable error ids of Enclave Image File reading.</summary>
public static class EifErrors
{
    public const string NotAnImage = "EifNotAnImage";
    public const string UnsupportedVersion = "EifUnsupportedVersion";
    public const string Truncated = "EifTruncated";
    public const string SectionOutOfBounds = "EifSectionOutOfBounds";
    public const string UnknownSectionType = "EifUnknownSectionType";
    public const string SectionCount = "EifSectionCount";
    public const string SectionTableMismatch = "EifSectionTableMismatch";
    public const string MissingSection = "EifMissingSection";
    public const string TrailingData = "EifTrailingData";
    public const string CrcMismatch = "EifCrcMismatch";
    public const string InvalidSignatureSection = "EifInvalidSignatureSection";
    public const string InvalidMetadata = "EifInvalidMetadata";
    public const string InvalidNitroCliJson = "NitroCliJsonInvalid";
    public const string ContentChanged = "EnclaveImageContentChanged";
    public const string ContentTooLarge = "EnclaveImageContentTooLarge";
    public const string SigningKeyMismatch = "EnclaveImageSigningKeyInvalid";

    internal static NitroEnclaveException Invalid(string id, string message) => new(id, ErrorKind.InvalidData, message);
}
