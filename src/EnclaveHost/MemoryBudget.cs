using System.Runtime.InteropServices;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// The memory that requests may hold at once, for the whole server: frame bodies as they arrive, decrypted plaintext
/// and decoded pixels. Work reserves before it allocates; when the budget is short it waits briefly (asking the server
/// to drop a stalled peer first) and is then refused with Busy, or with PayloadTooLarge when it could never fit.
/// After a burst the server gives the memory back to the system instead of staying at its peak.
/// </summary>
public sealed class MemoryBudget
{
    /// <summary>A peak at least this large is handed back to the system once the budget is idle again.</summary>
    private const long TrimThreshold = 32L << 20;

    /// <summary>A share at least this large is collected as soon as it returns.</summary>
    private const long LargeRelease = 16L << 20;

    private static readonly TimeSpan ReliefInterval = TimeSpan.FromMilliseconds(200);

    private readonly object _gate = new();
    private readonly TimeSpan _trimDelay;
    private long _inUse;
    private long _peakSinceTrim;
    private long _trimGeneration;
    private TaskCompletionSource _released = NewSignal();

    public MemoryBudget(long capacityBytes, TimeSpan? trimDelay = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L << 20);
        Capacity = capacityBytes;
        _trimDelay = trimDelay ?? TimeSpan.FromSeconds(1);
    }

    /// <summary>What the server's managed heap holds besides requests (the model lives in native memory).</summary>
    public const long ManagedHeapHeadroom = 32L << 20;

    public long Capacity { get; }

    /// <summary>
    /// The budget bounds what requests hold alive; a heap limit just above it makes the collector reclaim what they
    /// dropped (replaced frame buffers, finished images) before the heap grows, instead of growing to several times
    /// the budget between collections.
    /// </summary>
    public static void LimitManagedHeap(long budgetBytes)
    {
        AppContext.SetData("GCHeapHardLimit", (ulong)(budgetBytes + ManagedHeapHeadroom));
        GC.RefreshMemoryLimit();
    }

    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>How many times an idle budget handed memory back (for tests and the log).</summary>
    public long Trims { get; private set; }

    /// <summary>
    /// Called while a reservation does not fit: the server drops a peer that holds memory without being served, if
    /// any. Set once by the server.
    /// </summary>
    public Action? Relief { get; set; }

    public MemoryLease Lease() => new(this);

    /// <summary>Reserves <paramref name="bytes"/> or throws EnclaveProtocolException Busy / PayloadTooLarge.</summary>
    internal async Task ReserveAsync(long bytes, TimeSpan wait, string purpose, CancellationToken cancellationToken)
    {
        if (bytes > Capacity)
        {
            throw new EnclaveProtocolException(
                ProtocolErrorCodes.PayloadTooLarge,
                $"{purpose} needs {ToMiB(bytes)} MiB, more than the server's whole memory budget of {ToMiB(Capacity)} MiB.");
        }

        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            Task released;
            lock (_gate)
            {
                if (_inUse + bytes <= Capacity)
                {
                    _inUse += bytes;
                    _peakSinceTrim = Math.Max(_peakSinceTrim, _inUse);
                    return;
                }

                released = _released.Task;
            }

            // A peer that holds memory without being served goes before a request waits (its memory returns when
            // its connection unwinds, which wakes this wait); one may become eligible later, so ask at every turn.
            Relief?.Invoke();
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new EnclaveProtocolException(
                    ProtocolErrorCodes.Busy,
                    $"The server's memory budget is in use by other requests ({purpose} needs {ToMiB(bytes)} MiB); retry later.");
            }

            var turn = remaining < ReliefInterval ? remaining : ReliefInterval;
            await released.WaitAsync(turn, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    internal void Release(long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        TaskCompletionSource signal;
        bool idleAfterPeak;
        long generation;
        lock (_gate)
        {
            _inUse -= bytes;
            signal = _released;
            _released = NewSignal();
            idleAfterPeak = _inUse == 0 && _peakSinceTrim >= TrimThreshold;
            generation = ++_trimGeneration;
        }

        signal.TrySetResult();
        if (bytes >= LargeRelease)
        {
            // The heap limit only covers managed memory; an image decoder's native buffers come on top. Collecting
            // when a large share returns keeps dead frames and images from piling up beside the next one's buffers.
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        }

        if (idleAfterPeak)
        {
            _ = TrimWhenStillIdleAsync(generation);
        }
    }

    /// <summary>
    /// Hands freed memory back once the budget has stayed idle for a moment: a compacting collection that decommits
    /// the managed heap, then malloc_trim for what the image decoder allocated natively.
    /// </summary>
    private async Task TrimWhenStillIdleAsync(long generation)
    {
        await Task.Delay(_trimDelay).ConfigureAwait(false);
        lock (_gate)
        {
            if (_trimGeneration != generation || _inUse != 0)
            {
                return;
            }

            _peakSinceTrim = 0;
            Trims++;
        }

        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GlibcMemory.Trim();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static long ToMiB(long bytes) => (bytes + (1 << 20) - 1) >> 20;
}

/// <summary>One request's share of the budget; disposing it returns everything it reserved.</summary>
public sealed class MemoryLease : IDisposable
{
    private readonly MemoryBudget _budget;
    private long _held;

    internal MemoryLease(MemoryBudget budget) => _budget = budget;

    public long Held => _held;

    /// <summary>Reserves more, waiting up to <paramref name="wait"/>; throws Busy or PayloadTooLarge.</summary>
    public async Task ReserveAsync(long bytes, TimeSpan wait, string purpose, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        await _budget.ReserveAsync(bytes, wait, purpose, cancellationToken).ConfigureAwait(false);
        _held += bytes;
    }

    /// <summary>Returns part of what this lease holds (a buffer that was replaced by a larger one).</summary>
    public void Return(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, _held);
        _held -= bytes;
        _budget.Release(bytes);
    }

    public void Dispose() => Return(_held);
}

/// <summary>glibc keeps freed heap pages unless asked; the enclave and the simulation run on glibc Linux.</summary>
internal static partial class GlibcMemory
{
    private const int MmapThreshold = -3;

    /// <summary>Large blocks in their own mappings, so freeing them returns them at once (glibc otherwise raises
    /// the threshold after the first free and keeps later image buffers in its heap).</summary>
    public static void UseMappingsForLargeBlocks()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = mallopt(MmapThreshold, 256 << 10);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // Not glibc: its allocator decides.
            }
        }
    }

    public static void Trim()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = malloc_trim(0);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // Not glibc.
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int parameter, int value);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int malloc_trim(nuint pad);
}
