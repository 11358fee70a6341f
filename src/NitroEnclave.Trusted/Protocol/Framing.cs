using System.Buffers.Binary;

namespace NitroEnclave.Protocol;

/// <summary>
/// Length-prefixed frames: a 4-byte big-endian length, then that many bytes. A length of zero or above the receiver's
/// limit is refused before anything is allocated.
/// </summary>
public static class Framing
{
    public const int HeaderSize = 4;

    /// <summary>The default frame limit: room for a 48 MiB encrypted image and its request fields.</summary>
    public const int DefaultMaxFrameSize = 64 << 20;

    public static async Task WriteFrameAsync(Stream stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[HeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(header, checked((uint)payload.Length));
        await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one frame. Returns null when the peer closed the connection cleanly before a new frame began.
    /// Throws EnclaveProtocolException (PayloadTooLarge, BadRequest) for a bad length and EndOfStreamException when the
    /// connection ends inside a frame. For a peer that is not trusted, read the length with ReadFrameLengthAsync and
    /// the body in bounded pieces instead: this method allocates the whole announced length at once.
    /// </summary>
    public static async Task<byte[]?> ReadFrameAsync(Stream stream, int maxFrameSize, CancellationToken cancellationToken)
    {
        if (await ReadFrameLengthAsync(stream, maxFrameSize, cancellationToken).ConfigureAwait(false) is not { } length)
        {
            return null;
        }

        var payload = new byte[length];
        if (await ReadAtMostAsync(stream, payload, cancellationToken).ConfigureAwait(false) < payload.Length)
        {
            throw new EndOfStreamException($"The connection ended inside a frame of {length} bytes.");
        }

        return payload;
    }

    /// <summary>
    /// Reads a frame header and checks its length (1 to <paramref name="maxFrameSize"/>); null when the peer closed
    /// the connection cleanly before a new frame began.
    /// </summary>
    public static async Task<int?> ReadFrameLengthAsync(Stream stream, int maxFrameSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[HeaderSize];
        var got = await ReadAtMostAsync(stream, header, cancellationToken).ConfigureAwait(false);
        if (got == 0)
        {
            return null;
        }

        if (got < HeaderSize)
        {
            throw new EndOfStreamException("The connection ended inside a frame header.");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length == 0)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.BadRequest, "Empty frame.");
        }

        if (length > (uint)maxFrameSize)
        {
            throw new EnclaveProtocolException(ProtocolErrorCodes.PayloadTooLarge, $"A frame of {length} bytes exceeds the limit of {maxFrameSize} bytes.");
        }

        return (int)length;
    }

    private static async Task<int> ReadAtMostAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
