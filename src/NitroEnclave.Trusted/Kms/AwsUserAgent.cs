using Amazon.Util.Internal;

namespace NitroEnclave.Kms;

/// <summary>
/// Makes the AWS SDK's user agent start with NitroEnclave/&lt;version&gt; (instead of the SDK's own product name, which
/// stays in its md/ part), so CloudTrail's userAgent field shows the module. The setting is process-wide for this copy
/// of the SDK: the module's private load context, or the enclave server.
/// </summary>
public static class AwsUserAgent
{
    public const string Product = "NitroEnclave";

    private static readonly Lazy<bool> Applied = new(() =>
    {
        InternalSDKUtils.SetUserAgent(Product, Version);
        return true;
    });

    /// <summary>The module version (major.minor.patch).</summary>
    public static string Version { get; } = typeof(AwsUserAgent).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Sets the user agent once; every client created afterwards sends it.</summary>
    public static void Apply() => _ = Applied.Value;
}
