using System.Security.Cryptography;

namespace NitroEnclave;

/// <summary>Platform Configuration Register arithmetic as Nitro uses it: SHA-384, registers start as 48 zero bytes.</summary>
public static class Pcr
{
    public const int Length = 48;

    /// <summary>extend(old, data) = SHA384(old || data), as the Nitro Security Module's ExtendPCR does.</summary>
    public static byte[] Extend(ReadOnlySpan<byte> current, ReadOnlySpan<byte> data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        hash.AppendData(current);
        hash.AppendData(data);
        return hash.GetHashAndReset();
    }

    /// <summary>The value of a fresh register extended once with <paramref name="contentDigest"/> (the SHA-384 of a measured blob).</summary>
    public static byte[] FromDigest(ReadOnlySpan<byte> contentDigest) => Extend(stackalloc byte[Length], contentDigest);

    /// <summary>The value of a fresh register extended once with the SHA-384 of <paramref name="content"/>.</summary>
    public static byte[] Measure(ReadOnlySpan<byte> content) => FromDigest(SHA384.HashData(content));

    public static string ToHex(ReadOnlySpan<byte> value) => Convert.ToHexString(value).ToLowerInvariant();

    /// <summary>True for 96 hex digits (a SHA-384 value), either case.</summary>
    public static bool IsHex384(string? value) =>
        value is { Length: Length * 2 } && value.All(Uri.IsHexDigit);
}
