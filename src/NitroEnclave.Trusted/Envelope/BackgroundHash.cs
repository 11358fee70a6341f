using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace NitroEnclave.Envelope;

/// <summary>
/// The footer signature's hash over every message byte, computed on a second thread: hashing each byte with SHA-384
/// costs more than AES-GCM, so run inline it would halve a signed message's speed. Bytes are copied into blocks and
/// handed over through a small bounded queue, so memory stays at a few blocks whatever the message size.
/// </summary>
internal sealed class BackgroundHash : IDisposable
{
    private const int BlockSize = 256 << 10;
    private const int QueuedBlocks = 4;

    private readonly IncrementalHash _hash;
    private readonly BlockingCollection<(byte[] Block, int Length)> _queue = new(QueuedBlocks);
    private readonly Thread _worker;
    private byte[] _block = ArrayPool<byte>.Shared.Rent(BlockSize);
    private int _used;
    private bool _finished;

    public BackgroundHash(HashAlgorithmName algorithm)
    {
        _hash = IncrementalHash.CreateHash(algorithm);
        _worker = new Thread(HashBlocks) { IsBackground = true, Name = "Envelope signature hash" };
        _worker.Start();
    }

    public void AppendData(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var count = Math.Min(data.Length, BlockSize - _used);
            data[..count].CopyTo(_block.AsSpan(_used));
            _used += count;
            data = data[count..];
            if (_used == BlockSize)
            {
                HandOver();
            }
        }
    }

    /// <summary>Waits for every byte to be hashed and returns the digest; the hash takes no more data afterwards.</summary>
    public byte[] GetHashAndReset()
    {
        Finish();
        return _hash.GetHashAndReset();
    }

    public void Dispose()
    {
        Finish();
        ArrayPool<byte>.Shared.Return(_block);
        _hash.Dispose();
        _queue.Dispose();
    }

    private void HandOver()
    {
        _queue.Add((_block, _used));
        _block = ArrayPool<byte>.Shared.Rent(BlockSize);
        _used = 0;
    }

    private void Finish()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        if (_used > 0)
        {
            HandOver();
        }

        _queue.CompleteAdding();
        _worker.Join();
    }

    private void HashBlocks()
    {
        foreach (var (block, length) in _queue.GetConsumingEnumerable())
        {
            _hash.AppendData(block, 0, length);
            ArrayPool<byte>.Shared.Return(block);
        }
    }
}
