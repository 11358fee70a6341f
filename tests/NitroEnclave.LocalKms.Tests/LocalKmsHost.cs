using System.Security.Cryptography.X509Certificates;
using Amazon.KeyManagementService;
using Amazon.Runtime;
using NitroEnclave.LocalKms.Hosting;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>A local KMS in this process on a free loopback port, with its own data directory, and SDK clients for it.</summary>
public sealed class LocalKmsHost : IAsyncDisposable
{
    private LocalKmsHost(LocalKmsServer server, string dataPath, bool ownsData)
    {
        Server = server;
        DataPath = dataPath;
        _ownsData = ownsData;
    }

    private readonly bool _ownsData;

    public LocalKmsServer Server { get; }

    public string DataPath { get; }

    public static async Task<LocalKmsHost> StartAsync(string? dataPath = null, IReadOnlyList<X509Certificate2>? trustedRoots = null, TimeProvider? time = null, int? maxRequestBytes = null)
    {
        var ownsData = dataPath is null;
        dataPath ??= Directory.CreateTempSubdirectory("localkms-").FullName;
        var server = await LocalKmsServer.StartAsync(new LocalKmsOptions
        {
            DataPath = dataPath,
            TrustedRoots = trustedRoots ?? [],
            Time = time ?? TimeProvider.System,
            MaxRequestBytes = maxRequestBytes ?? LocalKmsOptions.DefaultMaxRequestBytes,
        });
        return new LocalKmsHost(server, dataPath, ownsData);
    }

    /// <summary>A client signed as the administrator.</summary>
    public AmazonKeyManagementServiceClient AdminClient() => Client(Server.AdminAccessKeyId, Server.AdminSecretAccessKey);

    public AmazonKeyManagementServiceClient Client(string accessKeyId, string secretAccessKey, string? region = null) =>
        new(new BasicAWSCredentials(accessKeyId, secretAccessKey), new AmazonKeyManagementServiceConfig
        {
            ServiceURL = Server.Endpoint.ToString(),
            AuthenticationRegion = region ?? Server.Region,
            MaxErrorRetry = 0,
        });

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        if (_ownsData)
        {
            Directory.Delete(DataPath, recursive: true);
        }
    }
}
