using System.Buffers;
using System.Buffers.Binary;
using System.Formats.Cbor;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using NitroEnclave.Cose;

namespace NitroEnclave.Eif;

/// <summary>
/// Reads an Enclave Image File in one streaming pass: validates its structure and CRC, computes PCR0/1/2/8 and reads
/// its metadata. Memory stays constant whatever the image size. The two hash chains that cover the large ramdisks
/// (PCR0 and PCR1/PCR2) run on two threads, so measuring costs about one SHA-384 pass over the file.
/// </summary>
public static class EnclaveImageReader
{
    public const int HeaderSize = 548;
    public const int SectionHeaderSize = 12;
    public const int MaxSections = 32;
    private const int CrcOffset = 544;
    private const uint Magic = 0x2E656966; // ".eif"
    private const int MinVersion = 2;
    private const int MaxVersion = 4;
    private const int ChunkSize = 4 << 20;
    private const int ParallelThreshold = 256 << 10;
    private const int MaxSignatureSize = 1 << 20;
    private const int MaxMetadataSize = 4 << 20;

    public static EnclaveImage Read(string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        return Read(stream, path, cancellationToken);
    }

    /// <summary>Reads an image from a seekable stream positioned at its start.</summary>
    public static EnclaveImage Read(Stream stream, string? path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var length = stream.Length - stream.Position;
        var header = new byte[HeaderSize];
        var got = ReadFull(stream, header);
        if (got >= 4 && BinaryPrimitives.ReadUInt32BigEndian(header) != Magic)
        {
            throw EifErrors.Invalid(EifErrors.NotAnImage, "The file is not an Enclave Image File: it does not start with the EIF magic '.eif'.");
        }

        if (got < HeaderSize)
        {
            throw EifErrors.Invalid(got < 4 ? EifErrors.NotAnImage : EifErrors.Truncated, $"The file ends after {got} bytes, inside the {HeaderSize}-byte EIF header.");
        }

        var version = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4));
        if (version is < MinVersion or > MaxVersion)
        {
            throw EifErrors.Invalid(EifErrors.UnsupportedVersion, $"EIF version {version} is not supported (versions {MinVersion} to {MaxVersion} are).");
        }

        var flags = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6));
        var sectionCount = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(26));
        if (sectionCount is 0 or > MaxSections)
        {
            throw EifErrors.Invalid(EifErrors.SectionCount, $"The header declares {sectionCount} sections; an EIF has 1 to {MaxSections}.");
        }

        var storedCrc = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(CrcOffset));
        using var state = new MeasurementState();
        state.Crc.Append(header.AsSpan(0, CrcOffset));

        var sections = new List<EnclaveImageSection>(sectionCount);
        var position = (long)HeaderSize;
        var sectionHeader = new byte[SectionHeaderSize];
        byte[]? signatureSection = null;
        byte[]? metadataSection = null;
        var ramdisks = 0;
        var buffers = new ChunkBuffers();
        try
        {
            for (var i = 0; i < sectionCount; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (ReadFull(stream, sectionHeader) < SectionHeaderSize)
                {
                    throw EifErrors.Invalid(EifErrors.Truncated, $"The file ends inside the header of section {i} at offset {position}.");
                }

                var rawType = BinaryPrimitives.ReadUInt16BigEndian(sectionHeader);
                var size = BinaryPrimitives.ReadUInt64BigEndian(sectionHeader.AsSpan(4));
                if (rawType is 0 or > (ushort)EifSectionType.Metadata)
                {
                    throw EifErrors.Invalid(EifErrors.UnknownSectionType, $"Section {i} at offset {position} has type {rawType}; known types are 1 (kernel) to 5 (metadata).");
                }

                var type = (EifSectionType)rawType;
                var dataStart = position + SectionHeaderSize;
                if (size > (ulong)(length - dataStart))
                {
                    throw EifErrors.Invalid(EifErrors.SectionOutOfBounds, $"Section {i} ({type}) declares {size} bytes but only {Math.Max(0, length - dataStart)} remain in the file.");
                }

                var tableOffset = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(28 + (8 * i)));
                var tableSize = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(284 + (8 * i)));
                if (tableOffset != (ulong)position || tableSize != size)
                {
                    throw EifErrors.Invalid(EifErrors.SectionTableMismatch, $"Section {i} ({type}) is at offset {position} with {size} bytes, but the header's table says offset {tableOffset} with {tableSize} bytes.");
                }

                state.Crc.Append(sectionHeader);
                var sectionSize = (long)size;
                sections.Add(new EnclaveImageSection(i, type, position, sectionSize));
                switch (type)
                {
                    case EifSectionType.Kernel:
                    case EifSectionType.Cmdline:
                        Hash(stream, sectionSize, state.Image, state.Boot, state.Crc, buffers, cancellationToken);
                        break;
                    case EifSectionType.Ramdisk:
                        Hash(stream, sectionSize, state.Image, ramdisks == 0 ? state.Boot : state.Application, state.Crc, buffers, cancellationToken);
                        ramdisks++;
                        break;
                    case EifSectionType.Signature:
                        signatureSection = ReadSmallSection(stream, sectionSize, MaxSignatureSize, type, state.Crc);
                        break;
                    case EifSectionType.Metadata:
                        metadataSection = ReadSmallSection(stream, sectionSize, MaxMetadataSize, type, state.Crc);
                        break;
                }

                position = dataStart + sectionSize;
            }
        }
        finally
        {
            buffers.Dispose();
        }

        if (position != length)
        {
            throw EifErrors.Invalid(EifErrors.TrailingData, $"{length - position} bytes follow the last declared section.");
        }

        RequireSection(sections, EifSectionType.Kernel);
        RequireSection(sections, EifSectionType.Cmdline);
        RequireSection(sections, EifSectionType.Ramdisk);

        var computedCrc = state.Crc.GetCurrentHashAsUInt32();
        var pcr0 = state.Image.GetHashAndReset();
        var signing = signatureSection is null ? null : ReadSignature(signatureSection, Pcr.FromDigest(pcr0));
        var crcValid = computedCrc == storedCrc;
        var measurements = new EnclaveMeasurements(
            path,
            Pcr.ToHex(Pcr.FromDigest(pcr0)),
            Pcr.ToHex(Pcr.FromDigest(state.Boot.GetHashAndReset())),
            Pcr.ToHex(Pcr.FromDigest(state.Application.GetHashAndReset())),
            signing is null ? null : Pcr.ToHex(Pcr.Measure(signing.Value.Certificate.RawData)),
            crcValid);

        var metadata = metadataSection is null ? null : ReadMetadata(metadataSection);
        return new EnclaveImage(
            path,
            version,
            (flags & 1) == 0 ? "x86_64" : "aarch64",
            length,
            measurements,
            crcValid,
            storedCrc,
            computedCrc,
            signing is not null,
            signing?.Certificate,
            signing?.Valid,
            metadata?.ImageName,
            metadata?.ImageVersion,
            metadata?.Build,
            metadata?.DockerInfo,
            metadata?.Custom,
            sections);
    }

    /// <summary>Feeds one section's data to two hash chains and the CRC, in parallel for large sections, reading ahead.</summary>
    private static void Hash(Stream stream, long size, IncrementalHash first, IncrementalHash second, Crc32 crc, ChunkBuffers buffers, CancellationToken cancellationToken)
    {
        var current = buffers.Current;
        var count = ReadSection(stream, current, (int)Math.Min(ChunkSize, size));
        var remaining = size - count;
        while (count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = current;
            var chunkLength = count;
            var next = buffers.Next;
            if (chunkLength >= ParallelThreshold)
            {
                // Balanced halves: one hash chain plus the read-ahead here, the other chain plus the CRC there.
                var secondTask = Task.Run(
                    () =>
                    {
                        second.AppendData(chunk, 0, chunkLength);
                        crc.Append(chunk.AsSpan(0, chunkLength));
                    },
                    cancellationToken);
                first.AppendData(chunk, 0, chunkLength);
                count = ReadSection(stream, next, (int)Math.Min(ChunkSize, remaining));
                secondTask.GetAwaiter().GetResult();
            }
            else
            {
                first.AppendData(chunk, 0, chunkLength);
                second.AppendData(chunk, 0, chunkLength);
                crc.Append(chunk.AsSpan(0, chunkLength));
                count = ReadSection(stream, next, (int)Math.Min(ChunkSize, remaining));
            }

            remaining -= count;
            current = next;
            buffers.Swap();
        }
    }

    private static int ReadSection(Stream stream, byte[] buffer, int wanted)
    {
        var got = ReadFull(stream, buffer.AsSpan(0, wanted));
        if (got < wanted)
        {
            throw EifErrors.Invalid(EifErrors.Truncated, "The file ended inside a section (it changed while being read).");
        }

        return got;
    }

    private static byte[] ReadSmallSection(Stream stream, long size, int limit, EifSectionType type, Crc32 crc)
    {
        if (size > limit)
        {
            throw EifErrors.Invalid(type == EifSectionType.Signature ? EifErrors.InvalidSignatureSection : EifErrors.InvalidMetadata, $"The {type} section is {size} bytes; at most {limit} are accepted.");
        }

        var data = new byte[size];
        ReadSection(stream, data, data.Length);
        crc.Append(data);
        return data;
    }

    private static int ReadFull(Stream stream, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = stream.Read(buffer[total..]);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private static void RequireSection(List<EnclaveImageSection> sections, EifSectionType type)
    {
        if (!sections.Exists(s => s.Type == type))
        {
            throw EifErrors.Invalid(EifErrors.MissingSection, $"The image has no {type.ToString().ToLowerInvariant()} section; an EIF needs a kernel, a command line and at least one ramdisk.");
        }
    }

    /// <summary>
    /// The signature section: a CBOR array of {signing_certificate: PEM, signature: COSE_Sign1 over
    /// {register_index: 0, register_value: PCR0}}. nitro-cli writes the byte fields as arrays of integers.
    /// </summary>
    private static (X509Certificate2 Certificate, bool Valid)? ReadSignature(byte[] section, byte[] pcr0)
    {
        try
        {
            // Strict: text must be valid UTF-8; fields are also compared by value, as a key can repeat in another encoding.
            var reader = new CborReader(section, CborConformanceMode.Strict);
            var count = reader.ReadStartArray();
            if (count == 0 || (count is null && reader.PeekState() == CborReaderState.EndArray))
            {
                throw EifErrors.Invalid(EifErrors.InvalidSignatureSection, "The signature section holds no signature.");
            }

            byte[]? pem = null;
            byte[]? cose = null;
            foreach (var (key, value) in ReadByteFieldMap(reader))
            {
                if (key == "signing_certificate")
                {
                    pem = value;
                }
                else if (key == "signature")
                {
                    cose = value;
                }
            }

            if (pem is null || cose is null)
            {
                throw EifErrors.Invalid(EifErrors.InvalidSignatureSection, "The signature entry lacks signing_certificate or signature.");
            }

            var certificate = X509Certificate2.CreateFromPem(Encoding.ASCII.GetString(pem));
            return (certificate, VerifyPcr0Signature(cose, certificate, pcr0));
        }
        catch (Exception ex) when (ex is CborContentException or InvalidOperationException or FormatException or CryptographicException)
        {
            throw new NitroEnclaveException(EifErrors.InvalidSignatureSection, ErrorKind.InvalidData, "The signature section cannot be read: " + ex.Message, ex);
        }
    }

    private static bool VerifyPcr0Signature(byte[] cose, X509Certificate2 certificate, byte[] pcr0)
    {
        CoseSign1 message;
        try
        {
            message = CoseSign1.Decode(cose);
        }
        catch (NitroEnclaveException)
        {
            return false;
        }

        using var key = certificate.GetECDsaPublicKey();
        if (key is null || !message.VerifySignature(key))
        {
            return false;
        }

        var payload = new CborReader(message.Payload, CborConformanceMode.Strict);
        payload.ReadStartMap();
        long? index = null;
        byte[]? value = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (payload.PeekState() != CborReaderState.EndMap)
        {
            var key2 = payload.ReadTextString();
            if (!seen.Add(key2))
            {
                throw TwiceInSignature("the signed payload", key2);
            }

            if (key2 == "register_index")
            {
                index = payload.ReadInt64();
            }
            else if (key2 == "register_value")
            {
                value = ReadBytes(payload);
            }
            else
            {
                payload.SkipValue();
            }
        }

        return index == 0 && value is not null && value.AsSpan().SequenceEqual(pcr0);
    }

    private static List<(string Key, byte[] Value)> ReadByteFieldMap(CborReader reader)
    {
        var fields = new List<(string Key, byte[] Value)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        reader.ReadStartMap();
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            var key = reader.ReadTextString();
            if (!seen.Add(key))
            {
                throw TwiceInSignature("the signature entry", key);
            }

            if (reader.PeekState() is CborReaderState.ByteString or CborReaderState.StartArray)
            {
                fields.Add((key, ReadBytes(reader)));
            }
            else
            {
                reader.SkipValue();
            }
        }

        reader.ReadEndMap();
        return fields;
    }

    /// <summary>A field given twice has no single value; taking either one would let the copies disagree unnoticed.</summary>
    private static NitroEnclaveException TwiceInSignature(string where, string key) =>
        EifErrors.Invalid(EifErrors.InvalidSignatureSection, $"The signature section cannot be read: {where} has the field '{key}' twice.");

    /// <summary>A byte field written either as a CBOR byte string or as an array of integers 0..255.</summary>
    private static byte[] ReadBytes(CborReader reader)
    {
        if (reader.PeekState() == CborReaderState.ByteString)
        {
            return reader.ReadByteString();
        }

        var bytes = new List<byte>();
        reader.ReadStartArray();
        while (reader.PeekState() != CborReaderState.EndArray)
        {
            bytes.Add(checked((byte)reader.ReadUInt32()));
        }

        reader.ReadEndArray();
        return [.. bytes];
    }

    private static Metadata ReadMetadata(byte[] section)
    {
        try
        {
            using var document = JsonDocument.Parse(section);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw EifErrors.Invalid(EifErrors.InvalidMetadata, "The metadata section is not a JSON object.");
            }

            EnclaveImageBuildMetadata? build = null;
            if (root.TryGetProperty("BuildMetadata", out var b) && b.ValueKind == JsonValueKind.Object)
            {
                build = NitroCliJson.ReadBuildMetadata(b);
            }

            return new Metadata(
                NitroCliJson.GetString(root, "ImageName"),
                NitroCliJson.GetString(root, "ImageVersion"),
                build,
                NitroCliJson.GetRawJson(root, "DockerInfo"),
                NitroCliJson.GetRawJson(root, "CustomMetadata"));
        }
        catch (JsonException ex)
        {
            throw new NitroEnclaveException(EifErrors.InvalidMetadata, ErrorKind.InvalidData, "The metadata section is not valid JSON: " + ex.Message, ex);
        }
    }

    private sealed record Metadata(string? ImageName, string? ImageVersion, EnclaveImageBuildMetadata? Build, string? DockerInfo, string? Custom);

    /// <summary>The running hashes: PCR0 over everything measured, PCR1 over the boot part, PCR2 over the application.</summary>
    private sealed class MeasurementState : IDisposable
    {
        public IncrementalHash Image { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);

        public IncrementalHash Boot { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);

        public IncrementalHash Application { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);

        public Crc32 Crc { get; } = new();

        public void Dispose()
        {
            Image.Dispose();
            Boot.Dispose();
            Application.Dispose();
        }
    }

    /// <summary>Two pooled chunk buffers: one being hashed while the next is read.</summary>
    private sealed class ChunkBuffers : IDisposable
    {
        private byte[] _current = ArrayPool<byte>.Shared.Rent(ChunkSize);
        private byte[] _next = ArrayPool<byte>.Shared.Rent(ChunkSize);

        public byte[] Current => _current;

        public byte[] Next => _next;

        public void Swap() => (_current, _next) = (_next, _current);

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_current);
            ArrayPool<byte>.Shared.Return(_next);
        }
    }
}
