using Amazon;
using Amazon.KeyManagementService;
using Amazon.Runtime;
using NitroEnclave.Protocol;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// How the enclave reaches KMS with the caller's credentials. An enclave has no network: in production every connection
/// goes over vsock to the parent's vsock-proxy (CID 3), which forwards it to kms.REGION.amazonaws.com:443, and TLS runs
/// end to end from here. Locally, a plain endpoint URL (the local KMS) is used instead.
/// </summary>
public sealed class KmsRoute
{
    private KmsRoute(string? endpointUrl, EnclaveEndpoint? proxy)
    {
        EndpointUrl = endpointUrl;
        Proxy = proxy;
    }

    public string? EndpointUrl { get; }

    public EnclaveEndpoint? Proxy { get; }

    public static KmsRoute Direct(string endpointUrl) =>
        Uri.TryCreate(endpointUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? new KmsRoute(endpointUrl, null)
            : throw new UsageException($"--kms-endpoint '{endpointUrl}' is not an http(s) URL");

    public static KmsRoute ThroughVsockProxy(uint cid, int port) => new(null, EnclaveEndpoint.Vsock(cid, port));

    public override string ToString() => EndpointUrl ?? $"kms.<region>.amazonaws.com through the vsock proxy at {Proxy}";

    private const int CachedClients = 8;
    private readonly Dictionary<string, AmazonKeyManagementServiceClient> _clients = new(StringComparer.Ordinal);
    private readonly Queue<string> _clientOrder = new();

    /// <summary>
    /// A KMS client for these credentials, reused across requests: building one (configuration, region resolution, a new
    /// connection) costs far more than the Decrypt itself. A few recent credential sets are kept; the oldest goes first.
    /// </summary>
    public AmazonKeyManagementServiceClient ClientFor(AwsCallerCredentials caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Join('\n', caller.AccessKeyId, caller.SecretAccessKey, caller.SessionToken ?? string.Empty, caller.Region))));
        lock (_clients)
        {
            if (_clients.TryGetValue(key, out var cached))
            {
                return cached;
            }

            if (_clientOrder.Count == CachedClients)
            {
                // Requests in flight may still hold the evicted client; the SDK client tolerates that and the GC reclaims it.
                _clients.Remove(_clientOrder.Dequeue());
            }

            var client = CreateClient(caller);
            _clients[key] = client;
            _clientOrder.Enqueue(key);
            return client;
        }
    }

    private AmazonKeyManagementServiceClient CreateClient(AwsCallerCredentials caller)
    {
        NitroEnclave.Kms.AwsUserAgent.Apply();
        AWSCredentials credentials = caller.SessionToken is null
            ? new BasicAWSCredentials(caller.AccessKeyId, caller.SecretAccessKey)
            : new SessionAWSCredentials(caller.AccessKeyId, caller.SecretAccessKey, caller.SessionToken);
        var config = new AmazonKeyManagementServiceConfig { MaxErrorRetry = 1, Timeout = TimeSpan.FromSeconds(20) };
        if (EndpointUrl is not null)
        {
            config.ServiceURL = EndpointUrl;
            config.AuthenticationRegion = caller.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(caller.Region);
            config.HttpClientFactory = new VsockHttpClientFactory(Proxy!);
        }

        return new AmazonKeyManagementServiceClient(credentials, config);
    }

    /// <summary>HTTP clients whose every connection is a vsock stream to the proxy; the URL keeps the real KMS host for TLS.</summary>
    private sealed class VsockHttpClientFactory(EnclaveEndpoint proxy) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig)
        {
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) => await VsockSockets.ConnectAsync(proxy, cancellationToken).ConfigureAwait(false),
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            };
            return new HttpClient(handler, disposeHandler: true);
        }

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => true;

        public override string GetConfigUniqueString(IClientConfig clientConfig) => "vsock:" + proxy;
    }
}
