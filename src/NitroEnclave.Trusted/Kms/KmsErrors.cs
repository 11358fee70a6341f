namespace NitroEnclave.Kms;

/// <summary>The stable error ids of the KMS helpers: the Recipient envelope and the local KMS process.</summary>
public static class KmsErrors
{
    public const string EnvelopeMalformed = "KmsRecipientEnvelopeMalformed";
    public const string EnvelopeUnsupportedAlgorithm = "KmsRecipientEnvelopeUnsupportedAlgorithm";
    public const string EnvelopeWrongRecipient = "KmsRecipientEnvelopeWrongRecipient";
    public const string EnvelopeDecryptionFailed = "KmsRecipientEnvelopeDecryptionFailed";
    public const string InvalidRecipientKey = "KmsInvalidRecipientKey";
    public const string InvalidRecipientKeyPolicy = "KmsInvalidRecipientKeyPolicy";
    public const string LocalKmsNotFound = "LocalKmsServerNotFound";
    public const string LocalKmsStartFailed = "LocalKmsStartFailed";
    public const string LocalKmsStartTimeout = "LocalKmsStartTimeout";
    public const string LocalKmsNotRunning = "LocalKmsNotRunning";
    public const string LocalKmsNotAServer = "LocalKmsNotAServer";
    public const string LocalKmsCommandFailed = "LocalKmsCommandFailed";
}
