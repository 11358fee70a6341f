using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests;

public sealed class MemoryBudgetTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task Leases_share_the_capacity_and_return_everything_when_disposed()
    {
        var budget = new MemoryBudget(8 * MiB);
        using (var first = budget.Lease())
        using (var second = budget.Lease())
        {
            await first.ReserveAsync(3 * MiB, TimeSpan.Zero, "test", CancellationToken.None);
            await second.ReserveAsync(5 * MiB, TimeSpan.Zero, "test", CancellationToken.None);
            Assert.Equal(8 * MiB, budget.InUse);
            first.Return(1 * MiB);
            Assert.Equal(2 * MiB, first.Held);
            Assert.Equal(7 * MiB, budget.InUse);
        }

        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public async Task More_than_the_whole_budget_is_PayloadTooLarge_at_once()
    {
        var budget = new MemoryBudget(8 * MiB);
        using var lease = budget.Lease();

        var refused = await Assert.ThrowsAsync<EnclaveProtocolException>(() => lease.ReserveAsync(9 * MiB, TimeSpan.FromMinutes(1), "the image", CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, refused.Code);
        Assert.Contains("the image", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public async Task A_reservation_that_does_not_fit_waits_for_memory_to_return_and_is_Busy_if_it_does_not()
    {
        var budget = new MemoryBudget(8 * MiB);
        var holder = budget.Lease();
        await holder.ReserveAsync(6 * MiB, TimeSpan.Zero, "test", CancellationToken.None);
        using var waiter = budget.Lease();

        var busy = await Assert.ThrowsAsync<EnclaveProtocolException>(() => waiter.ReserveAsync(4 * MiB, TimeSpan.FromMilliseconds(100), "test", CancellationToken.None));
        Assert.Equal(ProtocolErrorCodes.Busy, busy.Code);

        var waiting = waiter.ReserveAsync(4 * MiB, TimeSpan.FromSeconds(30), "test", CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        holder.Dispose();
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4 * MiB, budget.InUse);
    }

    [Fact]
    public async Task A_short_budget_asks_for_relief_while_it_waits()
    {
        var budget = new MemoryBudget(8 * MiB);
        var hog = budget.Lease();
        await hog.ReserveAsync(8 * MiB, TimeSpan.Zero, "test", CancellationToken.None);
        var asked = 0;
        budget.Relief = () =>
        {
            // The server drops the peer that holds memory without being served; here, the hog.
            if (Interlocked.Increment(ref asked) == 1)
            {
                hog.Dispose();
            }
        };
        using var lease = budget.Lease();

        await lease.ReserveAsync(2 * MiB, TimeSpan.FromSeconds(30), "test", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(asked >= 1);
        Assert.Equal(2 * MiB, budget.InUse);
    }

    [Fact]
    public async Task An_idle_budget_after_a_large_peak_hands_memory_back_once()
    {
        var budget = new MemoryBudget(256 * MiB, trimDelay: TimeSpan.FromMilliseconds(50));
        using (var lease = budget.Lease())
        {
            await lease.ReserveAsync(64 * MiB, TimeSpan.Zero, "test", CancellationToken.None);
        }

        for (var i = 0; i < 100 && budget.Trims == 0; i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, budget.Trims);

        // A small request afterwards is no reason for another collection.
        using (var lease = budget.Lease())
        {
            await lease.ReserveAsync(1 * MiB, TimeSpan.Zero, "test", CancellationToken.None);
        }

        await Task.Delay(200);
        Assert.Equal(1, budget.Trims);
    }
}
