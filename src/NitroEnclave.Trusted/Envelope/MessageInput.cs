using System.Buffers;

namespace NitroEnclave.Envelope;

/// <summary>
/// Sequential reads from an encrypted message: a short read is EnvelopeTruncated, and while <see cref="Hash"/> is set
/// every byte read also goes into the signature hash.
/// </summary>
internal sealed class MessageInput(Stream stream)
{
    public BackgroundHash? Hash { get; set; }

    public long Position { get; private set; }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes.</summary>
    public async ValueTask ReadExactlyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var got = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        Position += got;
        if (got < buffer.Length)
        {
            throw EnvelopeErrors.Invalid(
                EnvelopeErrors.Truncated,
                Position == 0 ? "The message is empty." : $"The message is truncated: it ends after {Position} bytes, inside a field that needs {buffer.Length - got} more.");
        }

        Hash?.AppendData(buffer.Span);
    }

    /// <summary>Reads <paramref name="count"/> bytes onto the end of <paramref name="writer"/> and returns them.</summary>
    public async ValueTask<byte[]> ReadAsync(ArrayBufferWriter<byte> writer, int count, CancellationToken cancellationToken)
    {
        var target = new byte[count];
        await ReadExactlyAsync(target, cancellationToken).ConfigureAwait(false);
        writer.Write(target);
        return target;
    }

    /// <summary>True when nothing follows; reads (and drops) a byte otherwise.</summary>
    public async ValueTask<bool> AtEndAsync(CancellationToken cancellationToken)
    {
        var probe = new byte[1];
        return await stream.ReadAsync(probe, cancellationToken).ConfigureAwait(false) == 0;
    }
}
