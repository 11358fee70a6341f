using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using NitroEnclave.Attestation;
using NitroEnclave.LocalKms.Hosting;
using NitroEnclave.LocalKms.Keys;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms;

/// <summary>
/// The command line:
///   serve --data-path DIR [--port N] [--trust-root PEM]... [--account-id ID] [--region R] [--listen ADDRESS]
///   add-principal --data-path DIR --arn ARN
///   add-role --data-path DIR --arn ROLE_ARN [--trust PRINCIPAL]... [--web-identity-subject SUB]... [--max-session-duration SECONDS]
///   issue-web-identity-token --data-path DIR --subject SUB [--lifetime-seconds N]
///   ensure-principal --data-path DIR --arn ARN
/// serve prints one JSON ready line on stdout once it listens; add-principal prints the new credentials as JSON,
/// ensure-principal the principal's existing credentials (new ones when it has none), add-role the role as JSON,
/// issue-web-identity-token the token alone (so it can go straight into a token file).
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: NitroEnclave.LocalKms serve --data-path DIR [--port N] [--trust-root PEM]... [--account-id ID] [--region R] [--listen ADDRESS]
               NitroEnclave.LocalKms add-principal --data-path DIR --arn ARN
               NitroEnclave.LocalKms add-role --data-path DIR --arn ROLE_ARN [--trust PRINCIPAL]... [--web-identity-subject SUB]... [--max-session-duration SECONDS]
               NitroEnclave.LocalKms issue-web-identity-token --data-path DIR --subject SUB [--lifetime-seconds N]
               NitroEnclave.LocalKms ensure-principal --data-path DIR --arn ARN
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await Console.Error.WriteLineAsync(Usage).ConfigureAwait(false);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            var options = ParseOptions(args.AsSpan(1));
            return args[0] switch
            {
                "serve" => await ServeAsync(options).ConfigureAwait(false),
                "add-principal" => AddPrincipal(options, reuseExisting: false),
                "ensure-principal" => AddPrincipal(options, reuseExisting: true),
                "add-role" => AddRole(options),
                "issue-web-identity-token" => IssueWebIdentityToken(options),
                _ => throw new ArgumentException($"unknown command '{args[0]}'"),
            };
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}\n{Usage}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NitroEnclaveException)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static async Task<int> ServeAsync(Dictionary<string, List<string>> options)
    {
        var roots = new List<X509Certificate2>();
        foreach (var path in options.GetValueOrDefault("--trust-root") ?? [])
        {
            roots.AddRange(AttestationVerifier.ReadPemCertificates(await File.ReadAllTextAsync(path).ConfigureAwait(false)));
        }

        var port = Single(options, "--port") is { } portText
            ? int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed <= 65535 ? parsed : throw new ArgumentException($"--port '{portText}' is not a port number")
            : 0;
        await using var server = await LocalKmsServer.StartAsync(new LocalKmsOptions
        {
            DataPath = Required(options, "--data-path"),
            Port = port,
            TrustedRoots = roots,
            AccountId = Single(options, "--account-id") ?? LocalKmsOptions.DefaultAccountId,
            Region = Single(options, "--region") ?? LocalKmsOptions.DefaultRegion,
            ListenAddress = Single(options, "--listen") ?? "127.0.0.1",
        }).ConfigureAwait(false);

        var ready = new ReadyLine
        {
            Endpoint = server.Endpoint.ToString().TrimEnd('/'),
            ProcessId = Environment.ProcessId,
            AccessKeyId = server.AdminAccessKeyId,
            Region = server.Region,
            AccountId = server.AccountId,
            DataPath = server.DataPath,
        };
        Console.Out.WriteLine(JsonSerializer.Serialize(ready, KmsJsonContext.Default.ReadyLine));
        Console.Out.Flush();
        await server.WaitForShutdownAsync().ConfigureAwait(false);
        return 0;
    }

    private static int AddPrincipal(Dictionary<string, List<string>> options, bool reuseExisting)
    {
        var principals = LocalKmsData.OpenPrincipals(Path.GetFullPath(Required(options, "--data-path")));
        var arn = Required(options, "--arn");
        var principal = reuseExisting ? principals.Ensure(arn) : principals.Add(arn);
        var credentials = new PrincipalCredentials { Arn = principal.Arn, AccessKeyId = principal.AccessKeyId, SecretAccessKey = principal.SecretAccessKey };
        Console.Out.WriteLine(JsonSerializer.Serialize(credentials, KmsJsonContext.Default.PrincipalCredentials));
        return 0;
    }

    private static int AddRole(Dictionary<string, List<string>> options)
    {
        var principals = LocalKmsData.OpenPrincipals(Path.GetFullPath(Required(options, "--data-path")));
        var role = principals.AddRole(
            Required(options, "--arn"),
            options.GetValueOrDefault("--trust") ?? [],
            options.GetValueOrDefault("--web-identity-subject") ?? [],
            Seconds(options, "--max-session-duration") ?? Identity.Role.DefaultMaxSessionDurationSeconds);
        var definition = new RoleDefinition
        {
            Arn = role.Arn,
            TrustedPrincipals = [.. role.TrustedPrincipals],
            WebIdentitySubjects = [.. role.WebIdentitySubjects],
            MaxSessionDurationSeconds = role.MaxSessionDurationSeconds,
        };
        Console.Out.WriteLine(JsonSerializer.Serialize(definition, KmsJsonContext.Default.RoleDefinition));
        return 0;
    }

    private static int IssueWebIdentityToken(Dictionary<string, List<string>> options)
    {
        var lifetime = Seconds(options, "--lifetime-seconds") ?? 3600;
        if (lifetime == 0)
        {
            throw new ArgumentException("--lifetime-seconds must be at least 1");
        }

        var provider = LocalKmsData.OpenWebIdentityProvider(Path.GetFullPath(Required(options, "--data-path")));
        Console.Out.WriteLine(provider.Mint(Required(options, "--subject"), TimeSpan.FromSeconds(lifetime)));
        return 0;
    }

    private static int? Seconds(Dictionary<string, List<string>> options, string name) =>
        Single(options, name) is { } text
            ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ? seconds : throw new ArgumentException($"{name} '{text}' is not a number of seconds")
            : null;

    private static Dictionary<string, List<string>> ParseOptions(ReadOnlySpan<string> args)
    {
        var options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"expected '--option value', found '{args[i]}'");
            }

            if (!options.TryGetValue(args[i], out var values))
            {
                options[args[i]] = values = [];
            }

            values.Add(args[i + 1]);
        }

        return options;
    }

    private static string? Single(Dictionary<string, List<string>> options, string name) =>
        options.TryGetValue(name, out var values) ? values.Count == 1 ? values[0] : throw new ArgumentException($"{name} is given more than once") : null;

    private static string Required(Dictionary<string, List<string>> options, string name) =>
        Single(options, name) ?? throw new ArgumentException($"{name} is required");
}
