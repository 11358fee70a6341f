using System.Security.Cryptography.X509Certificates;

namespace NitroEnclave.Tests.Attestation;

/// <summary>The two real Nitro attestation documents kept in tests/data/attestation.</summary>
internal static class RealDocuments
{
    private static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "data", "attestation");

    public static string DebugPath => Path.Combine(Directory, "debug-enclave-2024-12-20.b64");

    public static string EnclavePath => Path.Combine(Directory, "enclave-2026-02-02.b64");

    public static string AwsRootPemPath => Path.Combine(Directory, "aws-nitro-root-g1.pem");

    /// <summary>A debug-mode enclave of 2024-12-20: fixed-length payload map, all PCRs zero.</summary>
    public static byte[] Debug => Convert.FromBase64String(File.ReadAllText(DebugPath).Trim());

    /// <summary>An enclave of 2026-02-02: indefinite-length payload map.</summary>
    public static byte[] Enclave => Convert.FromBase64String(File.ReadAllText(EnclavePath).Trim());

    public static X509Certificate2 AwsRoot => X509Certificate2.CreateFromPem(File.ReadAllText(AwsRootPemPath));
}
