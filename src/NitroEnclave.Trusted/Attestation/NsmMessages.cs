namespace NitroEnclave.Attestation;

/// <summary>The largest fields the security module puts in an attestation document (the NSM API's limits).</summary>
public static class NsmLimits
{
    public const int MaxPublicKeySize = 1024;
    public const int MaxUserDataSize = 512;
    public const int MaxNonceSize = 512;
}

/// <summary>The error codes a Nitro Security Module returns in an Error response.</summary>
public static class NsmErrorCodes
{
    public const string InvalidArgument = "InvalidArgument";
    public const string InvalidIndex = "InvalidIndex";
    public const string InvalidResponse = "InvalidResponse";
    public const string ReadOnlyIndex = "ReadOnlyIndex";
    public const string InvalidOperation = "InvalidOperation";
    public const string BufferTooSmall = "BufferTooSmall";
    public const string InputTooLarge = "InputTooLarge";
    public const string InternalError = "InternalError";
}

/// <summary>A request to the security module. Its CBOR form is externally tagged by <see cref="Name"/>.</summary>
public abstract class NsmRequest
{
    private protected NsmRequest()
    {
    }

    /// <summary>The message name on the wire, such as "DescribePCR".</summary>
    public abstract string Name { get; }
}

public sealed class NsmAttestationRequest(byte[]? userData, byte[]? nonce, byte[]? publicKey) : NsmRequest
{
    public override string Name => "Attestation";

    public byte[]? UserData { get; } = userData;

    public byte[]? Nonce { get; } = nonce;

    public byte[]? PublicKey { get; } = publicKey;
}

public sealed class NsmDescribePcrRequest(int index) : NsmRequest
{
    public override string Name => "DescribePCR";

    public int Index { get; } = index;
}

public sealed class NsmExtendPcrRequest(int index, byte[] data) : NsmRequest
{
    public override string Name => "ExtendPCR";

    public int Index { get; } = index;

    public byte[] Data { get; } = data;
}

public sealed class NsmLockPcrRequest(int index) : NsmRequest
{
    public override string Name => "LockPCR";

    public int Index { get; } = index;
}

/// <summary>A request without fields, encoded as a bare text string ("GetRandom", "DescribeNSM").</summary>
public sealed class NsmBareRequest : NsmRequest
{
    public static readonly NsmBareRequest GetRandom = new("GetRandom");
    public static readonly NsmBareRequest DescribeNsm = new("DescribeNSM");

    private NsmBareRequest(string name) => Name = name;

    public override string Name { get; }
}

/// <summary>A response from the security module. Its CBOR form is externally tagged by <see cref="Name"/>.</summary>
public abstract class NsmResponse
{
    private protected NsmResponse()
    {
    }

    public abstract string Name { get; }
}

public sealed class NsmAttestationResponse(byte[] document) : NsmResponse
{
    public override string Name => "Attestation";

    public byte[] Document { get; } = document;
}

public sealed class NsmDescribePcrResponse(bool locked, byte[] data) : NsmResponse
{
    public override string Name => "DescribePCR";

    public bool Locked { get; } = locked;

    public byte[] Data { get; } = data;
}

public sealed class NsmExtendPcrResponse(byte[] data) : NsmResponse
{
    public override string Name => "ExtendPCR";

    /// <summary>The register's value after the extension.</summary>
    public byte[] Data { get; } = data;
}

/// <summary>The answer to LockPCR: a bare "LockPCR" text string.</summary>
public sealed class NsmLockPcrResponse : NsmResponse
{
    public static readonly NsmLockPcrResponse Instance = new();

    private NsmLockPcrResponse()
    {
    }

    public override string Name => "LockPCR";
}

public sealed class NsmGetRandomResponse(byte[] random) : NsmResponse
{
    public override string Name => "GetRandom";

    public byte[] Random { get; } = random;
}

public sealed class NsmDescribeNsmResponse(NsmDescription description) : NsmResponse
{
    public override string Name => "DescribeNSM";

    public NsmDescription Description { get; } = description;
}

public sealed class NsmErrorResponse(string code) : NsmResponse
{
    public override string Name => "Error";

    /// <summary>One of <see cref="NsmErrorCodes"/>, or a code a newer module defines.</summary>
    public string Code { get; } = code;
}

/// <summary>What DescribeNSM reports about the module.</summary>
public sealed class NsmDescription(int versionMajor, int versionMinor, int versionPatch, string moduleId, int maxPcrs, IReadOnlyList<int> lockedPcrs, string digest)
{
    public int VersionMajor { get; } = versionMajor;

    public int VersionMinor { get; } = versionMinor;

    public int VersionPatch { get; } = versionPatch;

    public string ModuleId { get; } = moduleId;

    public int MaxPcrs { get; } = maxPcrs;

    public IReadOnlyList<int> LockedPcrs { get; } = lockedPcrs;

    public string Digest { get; } = digest;
}

/// <summary>One register as DescribePCR reports it.</summary>
public sealed class NsmPcr(int index, bool locked, byte[] value)
{
    public int Index { get; } = index;

    public bool Locked { get; } = locked;

    public byte[] Value { get; } = value;

    public string Hex => Pcr.ToHex(Value);
}
