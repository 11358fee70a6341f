using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using NitroEnclave.Attestation;
using NitroEnclave.Envelope;
using NitroEnclave.Kms;
using NitroEnclave.LocalKms.Hosting;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost.Tests.Attacks;

/// <summary>
/// The setting the parent attacks: the real server binary with a simulated security module, a local KMS that trusts
/// only that module's root, and between them a forwarder that records every byte the server sends to KMS, as the
/// parent's vsock-proxy sees it. The data owner's air-show.jpg is encrypted under a key whose policy admits only the
/// server's PCR0; the parent holds the key administrator's credentials (kms:* except that Decrypt).
/// </summary>
public class HostileParentFixture : IAsyncLifetime
{
    private static readonly Dictionary<string, string> Context = new() { ["purpose"] = "detection" };

    private readonly SimulatedNsmChain _chain = SimulatedNsmChain.Create();
    private readonly string _state = Directory.CreateTempSubdirectory("hostile-parent-").FullName;
    private Process _server = null!;

    public LocalKmsServer Kms { get; private set; } = null!;

    public RecordingForwarder KmsTraffic { get; private set; } = null!;

    public EnclaveEndpoint Endpoint { get; private set; } = null!;

    /// <summary>The parent's own KMS client, with the credentials it also hands the server for Detect.</summary>
    public AmazonKeyManagementServiceClient Parent { get; private set; } = null!;

    public AwsCallerCredentials ParentCredentials { get; private set; } = null!;

    public byte[] Plaintext { get; private set; } = null!;

    public byte[] EncryptedImage { get; private set; } = null!;

    public string KeyArn { get; private set; } = null!;

    public EnclaveClient Client() => new(Endpoint, TimeSpan.FromSeconds(60));

    /// <summary>The server process, for its memory figures in /proc.</summary>
    public int ServerProcessId => _server.Id;

    /// <summary>Options added to the server's command line (a suite may scale limits down to stay fast).</summary>
    protected virtual IEnumerable<string> ServerOptions => [];

    /// <summary>Encrypts <paramref name="plaintext"/> for the enclave, as the data owner does.</summary>
    public async Task<byte[]> EncryptForEnclaveAsync(byte[] plaintext)
    {
        using var provider = new KmsDataKeyProvider(Parent);
        var encrypted = new MemoryStream();
        await EnvelopeEncryptor.EncryptAsync(new MemoryStream(plaintext), encrypted, provider, new EnvelopeEncryptOptions { KeyId = KeyArn, EncryptionContext = Context });
        return encrypted.ToArray();
    }

    /// <summary>A legitimate Detect of the data owner's air-show.jpg.</summary>
    public Task<DetectResponse> DetectAirShowAsync() =>
        Client().DetectAsync(new DetectRequest { EncryptedFile = EncryptedImage, Credentials = ParentCredentials }, CancellationToken.None);

    public async Task InitializeAsync()
    {
        _chain.Save(Path.Combine(_state, "nsm"));
        Kms = await LocalKmsServer.StartAsync(new LocalKmsOptions { DataPath = Path.Combine(_state, "kms"), TrustedRoots = [_chain.Root] });
        KmsTraffic = RecordingForwarder.Start(Kms.Endpoint);
        var ready = StartServer(["--kms-endpoint", KmsTraffic.Endpoint.ToString(), .. ServerOptions]);
        Endpoint = EnclaveEndpoint.Parse(ready.GetProperty("endpoint").GetString()!);
        var pcr0 = ready.GetProperty("pcrs").GetProperty("PCR0").GetString()!;

        Parent = new AmazonKeyManagementServiceClient(
            new BasicAWSCredentials(Kms.AdminAccessKeyId, Kms.AdminSecretAccessKey),
            new AmazonKeyManagementServiceConfig { ServiceURL = Kms.Endpoint.ToString(), AuthenticationRegion = Kms.Region, MaxErrorRetry = 0 });
        ParentCredentials = new AwsCallerCredentials { AccessKeyId = Kms.AdminAccessKeyId, SecretAccessKey = Kms.AdminSecretAccessKey, Region = Kms.Region };
        var policy = $$$"""
            {"Version": "2012-10-17", "Statement": [
              {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::{{{Kms.AccountId}}}:user/admin"}, "Action": "kms:*", "Resource": "*"},
              {"Sid": "OnlyTheEnclaveDecrypts", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:ReEncrypt*"], "Resource": "*",
               "Condition": {"StringNotEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "{{{pcr0}}}"} } }
            ]}
            """;
        KeyArn = (await Parent.CreateKeyAsync(new CreateKeyRequest { Policy = policy, BypassPolicyLockoutSafetyCheck = true })).KeyMetadata.Arn;
        Plaintext = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "data", "air-show.jpg"));
        EncryptedImage = await EncryptForEnclaveAsync(Plaintext);
    }

    public async Task DisposeAsync()
    {
        if (!_server.HasExited)
        {
            _server.Kill();
            await _server.WaitForExitAsync();
        }

        _server.Dispose();
        Parent.Dispose();
        KmsTraffic.Dispose();
        await Kms.DisposeAsync();
        _chain.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    /// <summary>Whether the server process is still alive (a crash is a denial of service).</summary>
    public bool ServerIsRunning => !_server.HasExited;

    /// <summary>Sends one raw payload as a frame and decodes the answer: what a hostile peer can do that EnclaveClient cannot.</summary>
    public async Task<byte[]> SendRawAsync(byte[] payload)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Endpoint.Host!, Endpoint.Port);
        var stream = tcp.GetStream();
        await Framing.WriteFrameAsync(stream, payload, CancellationToken.None);
        return await Framing.ReadFrameAsync(stream, Framing.DefaultMaxFrameSize, CancellationToken.None)
            ?? throw new InvalidOperationException("The server closed the connection without an answer.");
    }

    private JsonElement StartServer(IEnumerable<string> extra)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EnclaveHost"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "serve", "--listen", "tcp://127.0.0.1:0", "--nsm", "simulated", "--nsm-state", Path.Combine(_state, "nsm"), "--threads", "1" }.Concat(extra))
        {
            start.ArgumentList.Add(argument);
        }

        _server = Process.Start(start)!;
        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginErrorReadLine();
        var line = _server.StandardOutput.ReadLine() ?? throw new InvalidOperationException("EnclaveHost exited before it was ready.");
        using var ready = JsonDocument.Parse(line);
        return ready.RootElement.Clone();
    }
}

/// <summary>A loopback TCP forwarder that keeps a copy of every byte its clients send: the parent's view of the server's KMS traffic.</summary>
public sealed class RecordingForwarder : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _target;
    private readonly MemoryStream _sent = new();
    private readonly CancellationTokenSource _stop = new();

    private RecordingForwarder(Uri target) => _target = target;

    public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    public static RecordingForwarder Start(Uri target)
    {
        var forwarder = new RecordingForwarder(target);
        forwarder._listener.Start();
        _ = forwarder.AcceptAsync();
        return forwarder;
    }

    /// <summary>Everything sent so far, as text (KMS requests are JSON over HTTP/1.1).</summary>
    public string SentText()
    {
        lock (_sent)
        {
            return Encoding.UTF8.GetString(_sent.ToArray());
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(_target.Host, _target.Port, _stop.Token);
                var toServer = CopyAsync(client.GetStream(), upstream.GetStream(), record: true);
                var toClient = CopyAsync(upstream.GetStream(), client.GetStream(), record: false);
                await Task.WhenAny(toServer, toClient);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A connection that ends mid-way is the client's business.
            }
        }
    }

    private async Task CopyAsync(Stream from, Stream to, bool record)
    {
        var buffer = new byte[16384];
        int read;
        while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
        {
            if (record)
            {
                lock (_sent)
                {
                    _sent.Write(buffer, 0, read);
                }
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
        }
    }
}
