using System.Net.Sockets;
using NitroEnclave.Protocol;

namespace NitroEnclave.Tests.Protocol;

public sealed class FramingAndEndpointTests
{
    [Fact]
    public async Task Frames_round_trip_and_a_clean_close_reads_as_null()
    {
        var stream = new MemoryStream();
        await Framing.WriteFrameAsync(stream, new byte[] { 1, 2, 3 }, CancellationToken.None);
        await Framing.WriteFrameAsync(stream, new byte[70_000], CancellationToken.None);
        stream.Position = 0;

        Assert.Equal([1, 2, 3], await Framing.ReadFrameAsync(stream, 100_000, CancellationToken.None));
        Assert.Equal(70_000, (await Framing.ReadFrameAsync(stream, 100_000, CancellationToken.None))!.Length);
        Assert.Null(await Framing.ReadFrameAsync(stream, 100_000, CancellationToken.None));
    }

    [Fact]
    public async Task An_oversized_length_is_refused_before_reading_the_body()
    {
        var stream = new MemoryStream([0x7F, 0xFF, 0xFF, 0xFF]);
        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => Framing.ReadFrameAsync(stream, 1024, CancellationToken.None));
        Assert.Equal(ProtocolErrorCodes.PayloadTooLarge, error.Code);
    }

    [Fact]
    public async Task Empty_and_truncated_frames_fail()
    {
        Assert.Equal(ProtocolErrorCodes.BadRequest, (await Assert.ThrowsAsync<EnclaveProtocolException>(() => Framing.ReadFrameAsync(new MemoryStream([0, 0, 0, 0]), 1024, CancellationToken.None))).Code);
        await Assert.ThrowsAsync<EndOfStreamException>(() => Framing.ReadFrameAsync(new MemoryStream([0, 0]), 1024, CancellationToken.None));
        await Assert.ThrowsAsync<EndOfStreamException>(() => Framing.ReadFrameAsync(new MemoryStream([0, 0, 0, 9, 1, 2]), 1024, CancellationToken.None));
    }

    [Theory]
    [InlineData("tcp://127.0.0.1:5000", EndpointTransport.Tcp, "tcp://127.0.0.1:5000")]
    [InlineData("unix:/run/enclave.sock", EndpointTransport.Unix, "unix:/run/enclave.sock")]
    [InlineData("unix:///run/enclave.sock", EndpointTransport.Unix, "unix:/run/enclave.sock")]
    [InlineData("vsock://16:5000", EndpointTransport.Vsock, "vsock://16:5000")]
    [InlineData("vsock://:5000", EndpointTransport.Vsock, "vsock://:5000")]
    public void Endpoints_parse(string text, EndpointTransport transport, string canonical)
    {
        var endpoint = EnclaveEndpoint.Parse(text);
        Assert.Equal(transport, endpoint.Transport);
        Assert.Equal(canonical, endpoint.ToString());
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000")]
    [InlineData("tcp://127.0.0.1")]
    [InlineData("vsock://abc:5000")]
    [InlineData("unix:")]
    [InlineData("5000")]
    public void Bad_endpoints_are_typed_errors(string text)
    {
        Assert.Equal("EndpointInvalid", Assert.Throws<NitroEnclaveException>(() => EnclaveEndpoint.Parse(text)).ErrorId);
    }

    [Fact]
    public void The_vsock_address_has_the_sockaddr_vm_layout()
    {
        var address = VsockSockets.SocketAddress(16, 5000);

        Assert.Equal(16, address.Length);
        Assert.Equal([40, 0, 0, 0, 0x88, 0x13, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0], address);
    }

    [Fact]
    public async Task A_vsock_listener_binds_here_and_stops_accepting_when_disposed()
    {
        // This machine has the vsock family but no loopback transport: bind and listen work, connections cannot.
        var listener = VsockSockets.Listen(EnclaveEndpoint.Parse("vsock://:17005"));
        var accepting = listener.AcceptAsync();
        Assert.False(accepting.IsCompleted);

        listener.Dispose();

        Assert.Null(await accepting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Binding_a_vsock_port_twice_is_a_typed_error()
    {
        using var first = VsockSockets.Listen(EnclaveEndpoint.Parse("vsock://:17006"));
        var error = Assert.Throws<EnclaveProtocolException>(() => VsockSockets.Listen(EnclaveEndpoint.Parse("vsock://:17006")));
        Assert.Equal(ProtocolErrorCodes.Unavailable, error.Code);
        Assert.Contains("vsock://:17006", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_vsock_connection_that_cannot_complete_is_Unavailable_or_cancelled_cleanly()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => VsockSockets.ConnectAsync(EnclaveEndpoint.Parse("vsock://1:17007"), cancel.Token));
        Assert.True(error is EnclaveProtocolException { Code: ProtocolErrorCodes.Unavailable } or OperationCanceledException, error.ToString());
    }

    [Fact]
    public async Task Connecting_to_nothing_is_Unavailable_naming_the_endpoint()
    {
        var path = Path.Combine(Path.GetTempPath(), $"none-{Guid.NewGuid():N}.sock");
        var client = new EnclaveClient(EnclaveEndpoint.Parse("unix:" + path), TimeSpan.FromSeconds(5));

        var error = await Assert.ThrowsAsync<EnclaveProtocolException>(() => client.DescribeAsync(CancellationToken.None));

        Assert.Equal(ProtocolErrorCodes.Unavailable, error.Code);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
