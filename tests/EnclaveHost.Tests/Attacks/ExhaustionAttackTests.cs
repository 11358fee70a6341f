using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Net.Sockets;
using System.Text;
using NitroEnclave.Protocol;
using Xunit.Abstractions;

namespace NitroEnclave.EnclaveHost.Tests.Attacks;

/// <summary>
/// The server under the limits these attacks run against: the defaults scaled down (a 192 MiB budget, 32 MiB frames,
/// 32 connections, short deadlines) so the suite stays fast; the mechanisms are the same at the defaults.
/// </summary>
public sealed class ExhaustionFixture : HostileParentFixture
{
    public const int BudgetMiB = 192;
    public const int MaxFrameBytes = 32 << 20;
    public const int MaxConnections = 32;

    protected override IEnumerable<string> ServerOptions =>
    [
        "--memory-budget-mib", $"{BudgetMiB}", "--max-frame-bytes", $"{MaxFrameBytes}", "--max-connections", $"{MaxConnections}",
        "--first-frame-timeout", "3", "--frame-timeout", "6",
    ];
}

/// <summary>
/// The parent tries to exhaust or starve the server: frames announced and never sent, frames sent in full by many
/// peers at once, peers that trickle bytes to hold every connection, and images that decompress to far more than they
/// weigh. After each, the server must still be running, answer a legitimate request, have kept its peak memory within
/// the budget plus what it needs without requests, and give memory back.
/// </summary>
public sealed class ExhaustionAttackTests(ExhaustionFixture parent, ITestOutputHelper output) : IClassFixture<ExhaustionFixture>
{
    private const long MiB = 1 << 20;

    /// <summary>What the server's runtime may add beside the budget: heap bookkeeping, thread stacks, sockets.</summary>
    private const long Slack = 48 * MiB;

    [Fact]
    public async Task Frames_announced_but_not_sent_cost_almost_nothing()
    {
        var baseline = await WarmBaselineAsync();
        var attackers = await OpenAsync(ExhaustionFixture.MaxConnections - 2);
        try
        {
            foreach (var attacker in attackers)
            {
                await attacker.GetStream().WriteAsync(Header(ExhaustionFixture.MaxFrameBytes));
            }

            await Task.Delay(300);
            Assert.InRange(Rss(), 0, baseline + (16 * MiB));
            Assert.NotEmpty((await parent.DetectAirShowAsync()).Objects);
        }
        finally
        {
            Close(attackers);
        }

        await AssertRecoveredAsync(baseline);
    }

    [Fact]
    public async Task Frames_sent_in_full_by_many_peers_stay_within_the_budget_and_a_legitimate_request_is_served()
    {
        var baseline = await WarmBaselineAsync();
        ResetPeak();
        var attackers = await OpenAsync(24);
        try
        {
            // 24 frames of 32 MiB, all but their last byte: four times the budget offered, then held.
            var body = new byte[ExhaustionFixture.MaxFrameBytes - 1];
            var sending = attackers.Select(a => SendQuietlyAsync(a, [.. Header(ExhaustionFixture.MaxFrameBytes)], body)).ToArray();
            await Task.WhenAll(sending).WaitAsync(TimeSpan.FromSeconds(30));

            var served = await DetectWithRetriesAsync();
            Assert.NotEmpty(served.Objects);
        }
        finally
        {
            Close(attackers);
        }

        Assert.True(parent.ServerIsRunning);
        AssertPeakWithinBudget(baseline);
        await AssertRecoveredAsync(baseline);
    }

    [Fact]
    public async Task Peers_that_trickle_bytes_on_every_connection_do_not_keep_a_legitimate_request_out()
    {
        var baseline = await WarmBaselineAsync();
        var attackers = await OpenAsync(ExhaustionFixture.MaxConnections);
        using var stop = new CancellationTokenSource();
        var trickling = attackers.Select(a => TrickleAsync(a, stop.Token)).ToArray();
        try
        {
            // Every connection is taken and each peer sends a byte more often than any idle timeout would notice.
            await Task.Delay(1500);
            var served = await DetectWithRetriesAsync();
            Assert.NotEmpty(served.Objects);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(trickling);
            Close(attackers);
        }

        await AssertRecoveredAsync(baseline);
    }

    [Fact]
    public async Task Decompression_bombs_are_decoded_within_the_budget_or_refused_with_a_typed_code()
    {
        var baseline = await WarmBaselineAsync();
        ResetPeak();

        // Under the pixel limit and within the budget: decoded, one at a time when several arrive together.
        var fits = await parent.EncryptForEnclaveAsync(BlankPng(4000, 4000));
        var together = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => OutcomeAsync(fits)));
        Assert.All(together, outcome => Assert.True(outcome is "OK" or ProtocolErrorCodes.Busy, outcome));
        Assert.Contains("OK", together);

        // Under the pixel limit but more than the whole budget: PayloadTooLarge before a pixel is allocated.
        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, await OutcomeAsync(await parent.EncryptForEnclaveAsync(BlankPng(7000, 7000))));

        // Over the pixel limit: refused from the header.
        Assert.Equal(ProtocolErrorCodes.UnsupportedImage, await OutcomeAsync(await parent.EncryptForEnclaveAsync(BlankPng(10000, 10000))));

        Assert.True(parent.ServerIsRunning);
        AssertPeakWithinBudget(baseline);
        Assert.NotEmpty((await parent.DetectAirShowAsync()).Objects);
        await AssertRecoveredAsync(baseline);
    }

    [Fact]
    public async Task A_frame_longer_than_the_limit_is_refused_from_its_header()
    {
        using var attacker = (await OpenAsync(1))[0];
        var stream = attacker.GetStream();
        await stream.WriteAsync(Header(ExhaustionFixture.MaxFrameBytes + 1));
        var answer = await Framing.ReadFrameAsync(stream, 1 << 20, CancellationToken.None);

        var refused = Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeDescribeResponse(answer!));
        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, refused.Code);
        Assert.NotEmpty((await parent.DetectAirShowAsync()).Objects);
    }

    /// <summary>A legitimate client retries Busy, as Invoke-EnclaveDetection does; the attack may cost it a few seconds.</summary>
    private async Task<DetectResponse> DetectWithRetriesAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await parent.DetectAirShowAsync();
            }
            catch (EnclaveProtocolException ex) when (ex.Code == ProtocolErrorCodes.Busy && attempt < 10)
            {
                await Task.Delay(500);
            }
        }
    }

    private async Task<string> OutcomeAsync(byte[] encrypted)
    {
        try
        {
            await parent.Client().DetectAsync(new DetectRequest { EncryptedFile = encrypted, Credentials = parent.ParentCredentials }, CancellationToken.None);
            return "OK";
        }
        catch (EnclaveProtocolException ex)
        {
            return ex.Code;
        }
    }

    /// <summary>One legitimate request first, so the model and the key pair are warm; then the server's resting size.</summary>
    private async Task<long> WarmBaselineAsync()
    {
        Assert.NotEmpty((await parent.DetectAirShowAsync()).Objects);
        await Task.Delay(1500); // an earlier attack's memory is handed back once the budget has been idle a moment
        return Rss();
    }

    private void AssertPeakWithinBudget(long baseline)
    {
        var peak = Peak();
        output.WriteLine($"resting {baseline / MiB} MiB, peak {peak / MiB} MiB");
        Assert.True(peak <= baseline + (ExhaustionFixture.BudgetMiB * MiB) + Slack, $"peak {peak / MiB} MiB over a resting {baseline / MiB} MiB with a budget of {ExhaustionFixture.BudgetMiB} MiB");
    }

    /// <summary>The server hands memory back once the attack is over (it does not stay at its peak).</summary>
    private async Task AssertRecoveredAsync(long baseline)
    {
        var limit = baseline + (40 * MiB);
        for (var i = 0; i < 50 && Rss() > limit; i++)
        {
            await Task.Delay(200);
        }

        output.WriteLine($"after the attack {Rss() / MiB} MiB");
        Assert.True(Rss() <= limit, $"{Rss() / MiB} MiB after the attack, {baseline / MiB} MiB before");
        Assert.True(parent.ServerIsRunning);
    }

    private async Task<List<TcpClient>> OpenAsync(int count)
    {
        var clients = new List<TcpClient>();
        for (var i = 0; i < count; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync(parent.Endpoint.Host!, parent.Endpoint.Port);
            clients.Add(client);
        }

        return clients;
    }

    private static void Close(IEnumerable<TcpClient> clients)
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    private static async Task SendQuietlyAsync(TcpClient client, byte[] header, byte[] body)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var stream = client.GetStream();
            await stream.WriteAsync(header, limit.Token);
            await stream.WriteAsync(body, limit.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            // The server dropped or refused this peer: that is its defence working.
        }
    }

    /// <summary>A frame header, then one byte every 700 ms: never idle for long, never finished.</summary>
    private static async Task TrickleAsync(TcpClient client, CancellationToken stop)
    {
        try
        {
            var stream = client.GetStream();
            foreach (var b in Header(1 << 20))
            {
                await stream.WriteAsync(new[] { b }, stop);
                await Task.Delay(700, stop);
            }

            while (true)
            {
                await stream.WriteAsync(new byte[1], stop);
                await Task.Delay(700, stop);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Dropped by the server, or the test is over.
        }
    }

    private static byte[] Header(int length)
    {
        var header = new byte[Framing.HeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)length);
        return header;
    }

    private long Rss() => ProcStatus("VmRSS:");

    private long Peak() => ProcStatus("VmHWM:");

    /// <summary>Resets the server's peak resident size (VmHWM), as /proc/PID/clear_refs allows its owner.</summary>
    private void ResetPeak() => File.WriteAllText($"/proc/{parent.ServerProcessId}/clear_refs", "5");

    private long ProcStatus(string field)
    {
        var line = File.ReadLines($"/proc/{parent.ServerProcessId}/status").Single(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>
    /// A black RGB PNG (PNG specification: signature, IHDR, one zlib IDAT, IEND, each chunk with its CRC-32): a few
    /// hundred kilobytes that decode to width x height x 3 bytes.
    /// </summary>
    private static byte[] BlankPng(int width, int height)
    {
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bits per sample
        header[9] = 2; // RGB
        WriteChunk(png, "IHDR", header);
        var pixels = new MemoryStream();
        using (var zlib = new ZLibStream(pixels, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[1 + (width * 3)]; // filter type 0, then black pixels
            for (var y = 0; y < height; y++)
            {
                zlib.Write(row);
            }
        }

        WriteChunk(png, "IDAT", pixels.ToArray());
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        png.Write(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.HashToUInt32(typed));
        png.Write(crc);
    }
}
