using System.Buffers.Binary;
using System.Net.Sockets;
using NitroEnclave.Attestation;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests;

public sealed class EnclaveServerTests
{
    private static readonly AwsCallerCredentials Credentials = new() { AccessKeyId = "AKIDTEST", SecretAccessKey = "very-secret-value", Region = "us-east-1" };

    /// <summary>A raw connection for sending what a well-behaved client never would.</summary>
    private static async Task<NetworkStream> RawAsync(TestServer server)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Endpoint.ToEndPoint());
        return new NetworkStream(socket, ownsSocket: true);
    }

    private static async Task<string> ErrorCodeOf(Stream stream)
    {
        var frame = await Framing.ReadFrameAsync(stream, 1 << 20, CancellationToken.None);
        Assert.NotNull(frame);
        return Assert.Throws<EnclaveProtocolException>(() => ProtocolCodec.DecodeDescribeResponse(frame)).Code;
    }

    private static async Task AssertStillServes(TestServer server) =>
        Assert.Equal("NitroEnclave.EnclaveHost", (await server.Client().DescribeAsync(CancellationToken.None)).Server);

    [Fact]
    public async Task Describe_reports_the_server_without_secrets()
    {
        await using var server = TestServer.Start();

        var description = await server.Client().DescribeAsync(CancellationToken.None);

        Assert.Equal("simulated", description.SecurityModule);
        Assert.Equal(EnclaveProtocol.Version, description.Protocol);
        Assert.False(description.KmsConfigured);
        Assert.Equal(Framing.DefaultMaxFrameSize, description.MaxFrameBytes);
    }

    [Fact]
    public async Task Attest_returns_a_fresh_document_that_verifies_with_the_simulation_root_and_carries_the_nonce()
    {
        await using var server = TestServer.Start();
        byte[] nonce = [1, 2, 3, 4, 5, 6, 7, 8];

        var bytes = await server.Client().AttestAsync(new AttestRequest { Nonce = nonce, UserData = [42] }, CancellationToken.None);

        var document = AttestationDocument.Parse(bytes);
        var result = new AttestationVerifier([server.Chain.Root]).Verify(document, new AttestationExpectations { Nonce = nonce });
        Assert.True(result.IsValid, string.Join("; ", result.Failures.Select(f => f.ToString())));
        Assert.Equal([42], document.UserData);
        Assert.Equal(Enumerable.Repeat((byte)0xAB, 48), document.Pcrs[0]);
    }

    [Fact]
    public async Task Detect_without_a_kms_route_is_Unavailable()
    {
        await using var server = TestServer.Start();

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            server.Client().DetectAsync(new DetectRequest { EncryptedFile = [1, 2, 3], Credentials = Credentials }, CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.Unavailable, error.Code);
    }

    [Fact]
    public async Task Several_requests_share_one_connection()
    {
        await using var server = TestServer.Start();
        await using var stream = await RawAsync(server);

        for (var i = 0; i < 3; i++)
        {
            await Framing.WriteFrameAsync(stream, ProtocolCodec.EncodeRequest(new DescribeRequest()), CancellationToken.None);
            var answer = await Framing.ReadFrameAsync(stream, 1 << 20, CancellationToken.None);
            Assert.Equal("NitroEnclave.EnclaveHost", ProtocolCodec.DecodeDescribeResponse(answer!).Server);
        }
    }

    [Fact]
    public async Task Garbage_payload_is_BadRequest_and_the_connection_stays_usable()
    {
        await using var server = TestServer.Start();
        await using var stream = await RawAsync(server);

        await Framing.WriteFrameAsync(stream, new byte[] { 0xFF, 0x13, 0x37 }, CancellationToken.None);
        Assert.Equal(ProtocolErrorCodes.BadRequest, await ErrorCodeOf(stream));

        await Framing.WriteFrameAsync(stream, ProtocolCodec.EncodeRequest(new DescribeRequest()), CancellationToken.None);
        Assert.NotNull(ProtocolCodec.DecodeDescribeResponse((await Framing.ReadFrameAsync(stream, 1 << 20, CancellationToken.None))!));
    }

    [Fact]
    public async Task An_oversized_frame_is_PayloadTooLarge_and_closes_the_connection()
    {
        await using var server = TestServer.Start(o => o.MaxFrameBytes = 4096);
        await using var stream = await RawAsync(server);
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 1 << 30);

        await stream.WriteAsync(header);

        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, await ErrorCodeOf(stream));
        Assert.Null(await Framing.ReadFrameAsync(stream, 1 << 20, CancellationToken.None));
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_client_sending_more_than_the_server_accepts_gets_PayloadTooLarge_not_a_broken_connection()
    {
        await using var server = TestServer.Start(o => o.MaxFrameBytes = 4096);

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            server.Client().DetectAsync(new DetectRequest { EncryptedFile = new byte[4 << 20], Credentials = Credentials }, CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, error.Code);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_zero_length_frame_is_BadRequest()
    {
        await using var server = TestServer.Start();
        await using var stream = await RawAsync(server);

        await stream.WriteAsync(new byte[4]);

        Assert.Equal(ProtocolErrorCodes.BadRequest, await ErrorCodeOf(stream));
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_truncated_frame_and_a_client_that_disconnects_mid_request_leave_the_server_serving()
    {
        await using var server = TestServer.Start();
        await using (var stream = await RawAsync(server))
        {
            var header = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(header, 1000);
            await stream.WriteAsync(header);
            await stream.WriteAsync(new byte[10]);
        }

        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_connection_that_sends_no_first_frame_is_closed_after_the_first_frame_timeout()
    {
        await using var server = TestServer.Start(o => o.FirstFrameTimeout = TimeSpan.FromMilliseconds(300));
        await using var stream = await RawAsync(server);

        var read = await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, read);
        Assert.Contains("no-first-frame", server.Log.ToString(), StringComparison.Ordinal);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_connection_idle_after_a_request_is_closed_after_the_idle_timeout()
    {
        await using var server = TestServer.Start(o => o.IdleTimeout = TimeSpan.FromMilliseconds(300));
        await using var stream = await RawAsync(server);
        await Framing.WriteFrameAsync(stream, ProtocolCodec.EncodeRequest(new DescribeRequest()), CancellationToken.None);
        Assert.NotNull(await Framing.ReadFrameAsync(stream, 1 << 20, CancellationToken.None));

        var read = await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, read);
        Assert.Contains("\"reason\":\"idle\"", server.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_frame_that_trickles_in_is_dropped_at_the_frame_timeout_even_though_bytes_keep_coming()
    {
        await using var server = TestServer.Start(o => o.FrameTimeout = TimeSpan.FromMilliseconds(800));
        await using var stream = await RawAsync(server);
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 1000);
        await stream.WriteAsync(header);

        var closed = false;
        for (var i = 0; i < 40 && !closed; i++)
        {
            // A byte every 100 ms: never idle, never finished.
            try
            {
                await stream.WriteAsync(new byte[1]);
                await Task.Delay(100);
                closed = server.Log.ToString().Contains("frame-timeout", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                closed = true;
            }
        }

        Assert.True(closed);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task At_the_connection_limit_the_connection_pending_longest_gives_way_to_a_new_one()
    {
        await using var server = TestServer.Start(o => { o.MaxConnections = 4; o.StalledPeerGrace = TimeSpan.FromMilliseconds(200); o.FirstFrameTimeout = TimeSpan.FromSeconds(30); });
        var held = new List<NetworkStream>();
        for (var i = 0; i < 4; i++)
        {
            held.Add(await RawAsync(server));
        }

        await Task.Delay(400);
        await AssertStillServes(server);

        Assert.Contains("\"for\":\"connections\"", server.Log.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, await held[0].ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        foreach (var stream in held)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_frame_that_cannot_fit_the_memory_budget_is_refused_as_PayloadTooLarge_before_its_body_arrives()
    {
        await using var server = TestServer.Start(o => { o.MaxFrameBytes = 4 << 20; o.MemoryBudgetBytes = 2 << 20; });
        await using var stream = await RawAsync(server);
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 3 << 20); // held twice while decoded: more than 2 MiB
        await stream.WriteAsync(header);

        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, await ErrorCodeOf(stream));
        Assert.Equal(0, server.Server.Memory.InUse);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_client_reusing_connections_sends_many_requests_over_one_connection()
    {
        await using var server = TestServer.Start();
        using var reusing = new EnclaveClient(server.Endpoint, TimeSpan.FromSeconds(20), reuseConnections: true);
        using var plain = new EnclaveClient(server.Endpoint, TimeSpan.FromSeconds(20));

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("NitroEnclave.EnclaveHost", (await reusing.DescribeAsync(CancellationToken.None)).Server);
            Assert.NotEmpty(await reusing.AttestAsync(new AttestRequest { Nonce = [(byte)i] }, CancellationToken.None));
        }

        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => plain.DescribeAsync(CancellationToken.None)));

        Assert.Equal(1, reusing.ConnectionsOpened);
        Assert.Equal(3, plain.ConnectionsOpened);
    }

    [Fact]
    public async Task Concurrent_calls_of_a_reusing_client_each_get_a_connection_of_their_own_and_then_share_them()
    {
        await using var server = TestServer.Start();
        using var client = new EnclaveClient(server.Endpoint, TimeSpan.FromSeconds(20), reuseConnections: true);

        for (var round = 0; round < 5; round++)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => client.AttestAsync(new AttestRequest { Nonce = [(byte)i] }, CancellationToken.None)));
            Assert.Equal([0, 1, 2, 3], answers.Select(a => (int)AttestationDocument.Parse(a).Nonce![0]));
        }

        Assert.InRange(client.ConnectionsOpened, 1, 4);
    }

    [Fact]
    public async Task A_reusing_client_reconnects_when_the_server_closed_its_idle_connection()
    {
        await using var server = TestServer.Start(o => o.IdleTimeout = TimeSpan.FromMilliseconds(300));
        using var client = new EnclaveClient(server.Endpoint, TimeSpan.FromSeconds(20), reuseConnections: true);
        await client.DescribeAsync(CancellationToken.None);

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!server.Log.ToString().Contains("\"reason\":\"idle\"", StringComparison.Ordinal) && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        Assert.Contains("\"reason\":\"idle\"", server.Log.ToString(), StringComparison.Ordinal);
        Assert.Equal("NitroEnclave.EnclaveHost", (await client.DescribeAsync(CancellationToken.None)).Server);
        Assert.Equal(2, client.ConnectionsOpened);
    }

    [Fact]
    public async Task Another_protocol_version_is_UnsupportedVersion()
    {
        await using var server = TestServer.Start();
        await using var stream = await RawAsync(server);
        var writer = new System.Formats.Cbor.CborWriter();
        writer.WriteStartMap(2);
        writer.WriteTextString("v");
        writer.WriteInt32(9);
        writer.WriteTextString("op");
        writer.WriteTextString("Describe");
        writer.WriteEndMap();

        await Framing.WriteFrameAsync(stream, writer.Encode(), CancellationToken.None);

        Assert.Equal(ProtocolErrorCodes.UnsupportedVersion, await ErrorCodeOf(stream));
    }

    [Fact]
    public async Task Sixteen_concurrent_clients_all_get_their_answers()
    {
        await using var server = TestServer.Start(o => o.MaxConcurrentRequests = 2);

        var documents = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            server.Client().AttestAsync(new AttestRequest { Nonce = BitConverter.GetBytes(i) }, CancellationToken.None)));

        for (var i = 0; i < 16; i++)
        {
            Assert.Equal(BitConverter.GetBytes(i), AttestationDocument.Parse(documents[i]).Nonce);
        }
    }

    [Fact]
    public async Task Connections_beyond_the_limit_are_answered_Busy()
    {
        await using var server = TestServer.Start(o => o.MaxConnections = 1);
        await using var first = await RawAsync(server);
        await Framing.WriteFrameAsync(first, ProtocolCodec.EncodeRequest(new DescribeRequest()), CancellationToken.None);
        Assert.NotNull(await Framing.ReadFrameAsync(first, 1 << 20, CancellationToken.None));

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => server.Client().DescribeAsync(CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.Busy, error.Code);
    }

    [Fact]
    public async Task Stopping_finishes_a_request_in_flight_and_refuses_new_connections()
    {
        var gate = new TaskCompletionSource();
        var detection = new GatedDetection(gate.Task);
        var server = TestServer.Start(detection: detection);
        var inFlight = server.Client().DetectAsync(new DetectRequest { EncryptedFile = [1], Credentials = Credentials }, CancellationToken.None);
        await detection.Started.WaitAsync(TimeSpan.FromSeconds(10));

        var stopping = server.DisposeAsync().AsTask();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted);
        gate.SetResult();

        var response = await inFlight.WaitAsync(TimeSpan.FromSeconds(10));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("gated", response.Model);
        await Assert.ThrowsAsync<EnclaveProtocolException>(() => server.Client(TimeSpan.FromSeconds(2)).DescribeAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_request_past_its_deadline_is_answered_Timeout()
    {
        var detection = new GatedDetection(Task.Delay(Timeout.Infinite));
        await using var server = TestServer.Start(o => o.RequestTimeout = TimeSpan.FromMilliseconds(300), detection);

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            server.Client().DetectAsync(new DetectRequest { EncryptedFile = [1], Credentials = Credentials }, CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.Timeout, error.Code);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task An_unexpected_failure_is_Internal_without_details_and_the_log_holds_no_secret()
    {
        await using var server = TestServer.Start(detection: new FailingDetection());

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() =>
            server.Client().DetectAsync(new DetectRequest { EncryptedFile = [1], Credentials = Credentials }, CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.Internal, error.Code);
        Assert.DoesNotContain("boom", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret-value", server.Log.ToString(), StringComparison.Ordinal);
        Assert.Contains("\"op\":\"Detect\"", server.Log.ToString(), StringComparison.Ordinal);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task A_unix_socket_endpoint_serves_too()
    {
        var path = Path.Combine(Path.GetTempPath(), $"enclave-{Guid.NewGuid():N}.sock");
        await using (var server = TestServer.Start(listen: "unix:" + path))
        {
            Assert.Equal("NitroEnclave.EnclaveHost", (await server.Client().DescribeAsync(CancellationToken.None)).Server);
        }

        Assert.False(File.Exists(path));
    }

    private sealed class GatedDetection(Task gate) : IDetectionService
    {
        private readonly TaskCompletionSource _started = new();

        public Task Started => _started.Task;

        public async Task<DetectResponse> DetectAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken)
        {
            _started.TrySetResult();
            await gate.WaitAsync(cancellationToken);
            return new DetectResponse { Objects = [], ImageWidth = 1, ImageHeight = 1, Model = "gated", Timings = new Dictionary<string, double>() };
        }

        public async Task<ConfidentialDetectResponse> DetectConfidentialAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken)
        {
            _started.TrySetResult();
            await gate.WaitAsync(cancellationToken);
            return new ConfidentialDetectResponse { Model = "gated", EncryptedResult = [1], Timings = new Dictionary<string, double>() };
        }
    }

    private sealed class FailingDetection : IDetectionService
    {
        public Task<DetectResponse> DetectAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("boom: " + request.Credentials.SecretAccessKey);

        public Task<ConfidentialDetectResponse> DetectConfidentialAsync(DetectRequest request, MemoryLease memory, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("boom: " + request.Credentials.SecretAccessKey);
    }
}
