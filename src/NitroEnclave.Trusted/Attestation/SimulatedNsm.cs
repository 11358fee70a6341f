using System.Formats.Cbor;
using System.Security.Cryptography;
using NitroEnclave.Cose;
using NitroEnclave.Eif;

namespace NitroEnclave.Attestation;

/// <summary>How a simulated security module starts.</summary>
public sealed class SimulatedNsmOptions
{
    private readonly SortedDictionary<int, byte[]> _pcrs = [];

    /// <summary>The module id its documents carry; a random one shaped like AWS's when null.</summary>
    public string? ModuleId { get; set; }

    /// <summary>The PCRs it starts with (the image's measurements); they are locked, as the boot measurements are on a real enclave.</summary>
    public IReadOnlyDictionary<int, byte[]> Pcrs => _pcrs;

    /// <summary>Debug mode: every PCR reads as zero, in DescribePCR, ExtendPCR and documents.</summary>
    public bool DebugMode { get; set; }

    /// <summary>Encode the payload map with indefinite length, as documents from 2026 on do; fixed length otherwise.</summary>
    public bool IndefiniteLengthMap { get; set; } = true;

    /// <summary>The clock used for timestamps and leaf renewal.</summary>
    public TimeProvider? TimeProvider { get; set; }

    public SimulatedNsmOptions WithPcr(int index, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (index is < 0 or >= SimulatedNsm.MaxPcrs || value.Length != Pcr.Length)
        {
            throw new NitroEnclaveException(AttestationErrors.ExpectationInvalid, ErrorKind.InvalidArgument, $"PCR {index} must be an index from 0 to {SimulatedNsm.MaxPcrs - 1} with a {Pcr.Length}-byte value.");
        }

        _pcrs[index] = (byte[])value.Clone();
        return this;
    }

    /// <summary>Starts with the measurements of an enclave image (PCR0, 1, 2 and 8), as Get-EnclavePcr reports them.</summary>
    public SimulatedNsmOptions WithMeasurements(EnclaveMeasurements measurements)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        foreach (var (index, hex) in measurements.ToDictionary())
        {
            WithPcr(index, Convert.FromHexString(hex));
        }

        return this;
    }
}

/// <summary>
/// A local Nitro Security Module: it answers the same CBOR messages as /dev/nsm (see <see cref="Process"/>), holds 32
/// PCRs with extend and lock, and issues attestation documents with AWS's structure, signed by a
/// <see cref="SimulatedNsmChain"/>. Trust <see cref="Root"/> to verify them; they do not verify against the AWS root.
/// </summary>
public sealed class SimulatedNsm : NitroSecurityModuleClient
{
    public const int MaxPcrs = 32;

    /// <summary>Documents always carry PCRs 0 to 15, as real ones do; higher PCRs only once extended.</summary>
    public const int ReportedPcrs = 16;

    public const int RandomSize = 256;

    private readonly byte[][] _pcrs = new byte[MaxPcrs][];
    private readonly bool[] _locked = new bool[MaxPcrs];
    private readonly bool[] _extended = new bool[MaxPcrs];
    private readonly object _state = new();
    private readonly bool _ownsChain;
    private readonly TimeProvider _time;

    /// <summary>A module with a new chain of its own.</summary>
    public SimulatedNsm(SimulatedNsmOptions? options = null)
        : this(SimulatedNsmChain.Create(timeProvider: options?.TimeProvider), options, ownsChain: true)
    {
    }

    /// <summary>A module that signs with <paramref name="chain"/> (for example one loaded from disk); the caller keeps ownership of the chain.</summary>
    public SimulatedNsm(SimulatedNsmChain chain, SimulatedNsmOptions? options = null)
        : this(chain, options, ownsChain: false)
    {
    }

    private SimulatedNsm(SimulatedNsmChain chain, SimulatedNsmOptions? options, bool ownsChain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        options ??= new SimulatedNsmOptions();
        Chain = chain;
        _ownsChain = ownsChain;
        _time = options.TimeProvider ?? TimeProvider.System;
        ModuleId = options.ModuleId ?? NewModuleId();
        DebugMode = options.DebugMode;
        IndefiniteLengthMap = options.IndefiniteLengthMap;
        for (var i = 0; i < MaxPcrs; i++)
        {
            _pcrs[i] = new byte[Pcr.Length];
        }

        foreach (var (index, value) in options.Pcrs)
        {
            _pcrs[index] = (byte[])value.Clone();
            _locked[index] = true;
        }
    }

    public string ModuleId { get; }

    public bool DebugMode { get; }

    public bool IndefiniteLengthMap { get; }

    public SimulatedNsmChain Chain { get; }

    /// <summary>The root a verifier must trust to accept this module's documents.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 Root => Chain.Root;

    /// <summary>Handles one encoded request as the device would and returns the encoded response (Error responses included).</summary>
    public byte[] Process(ReadOnlySpan<byte> request)
    {
        if (request.Length > NsmCodec.MaxRequestSize)
        {
            return NsmCodec.EncodeResponse(new NsmErrorResponse(NsmErrorCodes.InputTooLarge));
        }

        NsmRequest decoded;
        try
        {
            decoded = NsmCodec.DecodeRequest(request.ToArray());
        }
        catch (NitroEnclaveException)
        {
            return NsmCodec.EncodeResponse(new NsmErrorResponse(NsmErrorCodes.InvalidArgument));
        }

        NsmResponse response;
        lock (_state)
        {
            response = Handle(decoded);
        }

        return NsmCodec.EncodeResponse(response);
    }

    protected override byte[] Exchange(byte[] request) => Process(request);

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsChain)
        {
            Chain.Dispose();
        }

        base.Dispose(disposing);
    }

    private NsmResponse Handle(NsmRequest request)
    {
        switch (request)
        {
            case NsmAttestationRequest attestation:
                if (attestation.UserData is { Length: > NsmLimits.MaxUserDataSize }
                    || attestation.Nonce is { Length: > NsmLimits.MaxNonceSize }
                    || attestation.PublicKey is { Length: > NsmLimits.MaxPublicKeySize })
                {
                    return new NsmErrorResponse(NsmErrorCodes.InputTooLarge);
                }

                return new NsmAttestationResponse(IssueDocument(attestation));
            case NsmDescribePcrRequest describe:
                return describe.Index >= MaxPcrs
                    ? new NsmErrorResponse(NsmErrorCodes.InvalidIndex)
                    : new NsmDescribePcrResponse(_locked[describe.Index], Read(describe.Index));
            case NsmExtendPcrRequest extend:
                if (extend.Index >= MaxPcrs)
                {
                    return new NsmErrorResponse(NsmErrorCodes.InvalidIndex);
                }

                if (_locked[extend.Index])
                {
                    return new NsmErrorResponse(NsmErrorCodes.ReadOnlyIndex);
                }

                _pcrs[extend.Index] = Pcr.Extend(_pcrs[extend.Index], extend.Data);
                _extended[extend.Index] = true;
                return new NsmExtendPcrResponse(Read(extend.Index));
            case NsmLockPcrRequest lockPcr:
                if (lockPcr.Index >= MaxPcrs)
                {
                    return new NsmErrorResponse(NsmErrorCodes.InvalidIndex);
                }

                _locked[lockPcr.Index] = true;
                return NsmLockPcrResponse.Instance;
            case NsmBareRequest bare when bare == NsmBareRequest.GetRandom:
                return new NsmGetRandomResponse(RandomNumberGenerator.GetBytes(RandomSize));
            case NsmBareRequest bare when bare == NsmBareRequest.DescribeNsm:
                var locked = Enumerable.Range(0, MaxPcrs).Where(i => _locked[i]).ToArray();
                return new NsmDescribeNsmResponse(new NsmDescription(1, 0, 0, ModuleId, MaxPcrs, locked, "SHA384"));
            default:
                return new NsmErrorResponse(NsmErrorCodes.InvalidOperation);
        }
    }

    private byte[] Read(int index) => DebugMode ? new byte[Pcr.Length] : (byte[])_pcrs[index].Clone();

    private byte[] IssueDocument(NsmAttestationRequest request)
    {
        var (leaf, key) = Chain.CurrentLeaf(ModuleId);
        var bundle = Chain.CaBundle;
        var reported = Enumerable.Range(0, MaxPcrs).Where(i => i < ReportedPcrs || _extended[i]).ToArray();

        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteStartMap(IndefiniteLengthMap ? null : 9);
        writer.WriteTextString("module_id");
        writer.WriteTextString(ModuleId);
        writer.WriteTextString("digest");
        writer.WriteTextString("SHA384");
        writer.WriteTextString("timestamp");
        writer.WriteUInt64((ulong)_time.GetUtcNow().ToUnixTimeMilliseconds());
        writer.WriteTextString("pcrs");
        writer.WriteStartMap(reported.Length);
        foreach (var index in reported)
        {
            writer.WriteUInt32((uint)index);
            writer.WriteByteString(Read(index));
        }

        writer.WriteEndMap();
        writer.WriteTextString("certificate");
        writer.WriteByteString(leaf.RawData);
        writer.WriteTextString("cabundle");
        writer.WriteStartArray(bundle.Count);
        foreach (var certificate in bundle)
        {
            writer.WriteByteString(certificate.RawData);
        }

        writer.WriteEndArray();
        WriteOptionalBytes(writer, "public_key", request.PublicKey);
        WriteOptionalBytes(writer, "user_data", request.UserData);
        WriteOptionalBytes(writer, "nonce", request.Nonce);
        writer.WriteEndMap();
        return CoseSign1.Sign(writer.Encode(), key);
    }

    private static void WriteOptionalBytes(CborWriter writer, string key, byte[]? value)
    {
        writer.WriteTextString(key);
        if (value is null)
        {
            writer.WriteNull();
        }
        else
        {
            writer.WriteByteString(value);
        }
    }

    /// <summary>An id shaped like AWS's: i-&lt;17 hex&gt;-enc&lt;16 hex&gt;.</summary>
    private static string NewModuleId() =>
        $"i-{Convert.ToHexString(RandomNumberGenerator.GetBytes(9)).ToLowerInvariant()[..17]}-enc{Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()}";
}
