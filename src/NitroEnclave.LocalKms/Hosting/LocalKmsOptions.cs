using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.LocalKms.Hosting;

/// <summary>How to run a local KMS endpoint.</summary>
public sealed class LocalKmsOptions
{
    public const string DefaultAccountId = "111122223333";
    public const string DefaultRegion = "us-east-1";
    public const int DefaultMaxRequestBytes = 64 * 1024;

    /// <summary>Where keys, aliases, policies, principals and the master key live.</summary>
    public required string DataPath { get; init; }

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; }

    /// <summary>Loopback by default: the endpoint is for this machine only.</summary>
    public string ListenAddress { get; init; } = "127.0.0.1";

    public string AccountId { get; init; } = DefaultAccountId;

    /// <summary>The region of this endpoint: in the key and alias ARNs it issues, and the one requests must be signed for.</summary>
    public string Region { get; init; } = DefaultRegion;

    /// <summary>Roots that attestation documents in Recipient parameters must chain to. Empty: Recipient is refused.</summary>
    public IReadOnlyList<X509Certificate2> TrustedRoots { get; init; } = [];

    /// <summary>How old an attestation document may be.</summary>
    public TimeSpan AttestationMaxAge { get; init; } = TimeSpan.FromMinutes(5);

    public int MaxRequestBytes { get; init; } = DefaultMaxRequestBytes;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
