using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NitroEnclave.LocalKms.Identity;
using NitroEnclave.LocalKms.Keys;
using NitroEnclave.LocalKms.Operations;
using NitroEnclave.LocalKms.Sts;

namespace NitroEnclave.LocalKms.Hosting;

/// <summary>
/// A running local KMS endpoint: Kestrel on the configured address (loopback by default), serving the KMS JSON
/// protocol from the data path. Tests host it in-process on port 0; Program hosts it for the command line.
/// </summary>
public sealed class LocalKmsServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalKmsServer(WebApplication app, Uri endpoint, string adminAccessKeyId, string adminSecretAccessKey, string region, string accountId, string dataPath)
    {
        _app = app;
        Endpoint = endpoint;
        AdminAccessKeyId = adminAccessKeyId;
        AdminSecretAccessKey = adminSecretAccessKey;
        Region = region;
        AccountId = accountId;
        DataPath = dataPath;
    }

    public Uri Endpoint { get; }

    public string AdminAccessKeyId { get; }

    public string AdminSecretAccessKey { get; }

    public string Region { get; }

    public string AccountId { get; }

    public string DataPath { get; }

    /// <summary>Opens (or initializes) the data path, then listens; returns once requests are being served.</summary>
    public static async Task<LocalKmsServer> StartAsync(LocalKmsOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dataPath = Path.GetFullPath(options.DataPath);
        var store = LocalKmsData.Open(dataPath, options.AccountId);
        var admin = store.Principals.EnsureAdmin(options.AccountId);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(LocalKmsServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(System.Net.IPAddress.Parse(options.ListenAddress), options.Port);
        });

        var app = builder.Build();
        var verifier = new AttestationRecipientVerifier(options.TrustedRoots, options.AttestationMaxAge, options.Time);
        var service = new KmsService(store.Keys, verifier, options.Region, options.Time);
        var sessions = new SessionCredentials(store.MasterKey, options.Time);
        // Session keys (ASIA...) open from their token; long-term keys are in the principal directory.
        var signatures = new SigV4Verifier(
            (accessKeyId, token) => accessKeyId.StartsWith(SessionCredentials.AccessKeyPrefix, StringComparison.Ordinal) ? sessions.Open(accessKeyId, token) : store.Principals.Find(accessKeyId),
            options.Region, options.Time);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LocalKms");
        var kms = new KmsEndpoint(service, signatures, options.MaxRequestBytes, logger);
        var sts = new StsEndpoint(new StsService(store.Principals, sessions, new WebIdentityTokens(store.MasterKey, options.Time)), signatures, options.MaxRequestBytes, logger);
        // One port for both services, as the signed service name in the credential scope says.
        app.Run(http => StsEndpoint.Claims(http.Request) ? sts.HandleAsync(http) : kms.HandleAsync(http));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new LocalKmsServer(app, new Uri(address), admin.AccessKeyId, admin.SecretAccessKey, options.Region, options.AccountId, dataPath);
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
