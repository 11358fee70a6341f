using System.Diagnostics;
using System.Text;
using System.Text.Json;
using NitroEnclave.Aws;

namespace NitroEnclave.Kms;

/// <summary>A running local KMS server started by <see cref="LocalKmsProcess.Start"/>.</summary>
public sealed class LocalKmsInstance
{
    internal LocalKmsInstance(Uri endpoint, int processId, string accessKey, string secretKey, string dataPath, string region, string accountId)
    {
        Endpoint = endpoint;
        ProcessId = processId;
        Credential = new AwsKeyCredential(new AwsKeys(accessKey, secretKey));
        DataPath = dataPath;
        Region = region;
        AccountId = accountId;
    }

    /// <summary>The URL to give SDKs and the AWS CLI as their endpoint (ServiceURL, --endpoint-url).</summary>
    public Uri Endpoint { get; }

    public int ProcessId { get; }

    /// <summary>The administrator's access key id.</summary>
    public string AccessKey => Credential.AccessKey;

    /// <summary>The administrator's keys, for -Credential; the secret does not print.</summary>
    public AwsKeyCredential Credential { get; }

    public string DataPath { get; }

    /// <summary>The region in the ARNs the server issues; sign requests for it.</summary>
    public string Region { get; }

    public string AccountId { get; }

    public override string ToString() => Endpoint.ToString();
}

/// <summary>A principal added to a local KMS: its ARN and its own access key.</summary>
public sealed class LocalKmsPrincipal
{
    internal LocalKmsPrincipal(string arn, string accessKey, string secretKey, string dataPath)
    {
        Arn = arn;
        Credential = new AwsKeyCredential(new AwsKeys(accessKey, secretKey));
        DataPath = dataPath;
    }

    public string Arn { get; }

    public string AccessKey => Credential.AccessKey;

    /// <summary>The principal's keys, for -Credential; the secret does not print.</summary>
    public AwsKeyCredential Credential { get; }

    public string DataPath { get; }

    public override string ToString() => Arn;
}

/// <summary>A role of a local KMS: AssumeRole and AssumeRoleWithWebIdentity on its port issue sessions of it.</summary>
public sealed class LocalKmsRole
{
    internal LocalKmsRole(string arn, IReadOnlyList<string> trustedPrincipal, IReadOnlyList<string> webIdentitySubject, int maxSessionDuration, string dataPath)
    {
        Arn = arn;
        TrustedPrincipal = trustedPrincipal;
        WebIdentitySubject = webIdentitySubject;
        MaxSessionDuration = maxSessionDuration;
        DataPath = dataPath;
    }

    public string Arn { get; }

    /// <summary>Who may call AssumeRole for it: principal ARNs, account ids or account root ARNs.</summary>
    public IReadOnlyList<string> TrustedPrincipal { get; }

    /// <summary>The sub claims of the local KMS's web identity tokens that may assume it ("*": any).</summary>
    public IReadOnlyList<string> WebIdentitySubject { get; }

    /// <summary>In seconds.</summary>
    public int MaxSessionDuration { get; }

    public string DataPath { get; }

    public override string ToString() => Arn;
}

/// <summary>How to start a local KMS server.</summary>
public sealed class LocalKmsStartOptions
{
    /// <summary>The folder holding the published server (NitroEnclave.LocalKms.dll and its apphost).</summary>
    public required string ServerDirectory { get; init; }

    public required string DataPath { get; init; }

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; }

    /// <summary>PEM files of the roots attestation documents must chain to.</summary>
    public IReadOnlyList<string> TrustedRootPaths { get; init; } = [];

    public string? Region { get; init; }

    public string? AccountId { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Starts, stops and administers the local KMS server (src/NitroEnclave.LocalKms) as a child process: the server
/// prints one JSON ready line on stdout when it listens, and add-principal prints the new credentials as JSON.
/// </summary>
public static class LocalKmsProcess
{
    public const string ServerAssemblyName = "NitroEnclave.LocalKms";
    private const int MaxDiagnosticChars = 4000;

    /// <summary>Starts the server and returns once it serves requests.</summary>
    public static LocalKmsInstance Start(LocalKmsStartOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dataPath = Path.GetFullPath(options.DataPath);
        var arguments = new List<string> { "serve", "--data-path", dataPath, "--port", options.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var rootPath in options.TrustedRootPaths)
        {
            arguments.AddRange(["--trust-root", Path.GetFullPath(rootPath)]);
        }

        if (options.Region is not null)
        {
            arguments.AddRange(["--region", options.Region]);
        }

        if (options.AccountId is not null)
        {
            arguments.AddRange(["--account-id", options.AccountId]);
        }

        using var process = Launch(options.ServerDirectory, arguments);
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                if (e.Data is not null && errors.Length < MaxDiagnosticChars)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();

        var readyLine = process.StandardOutput.ReadLineAsync(cancellationToken).AsTask();
        try
        {
            if (!readyLine.Wait(options.StartTimeout, cancellationToken))
            {
                StopQuietly(process);
                throw new NitroEnclaveException(KmsErrors.LocalKmsStartTimeout, ErrorKind.OperationTimeout,
                    $"The local KMS did not report ready within {options.StartTimeout.TotalSeconds:0} seconds.");
            }
        }
        catch (OperationCanceledException)
        {
            StopQuietly(process);
            throw;
        }

        var line = readyLine.Result;
        if (line is null)
        {
            process.WaitForExit(5000);
            string stderr;
            lock (errors)
            {
                stderr = errors.ToString().Trim();
            }

            throw new NitroEnclaveException(KmsErrors.LocalKmsStartFailed, ErrorKind.InvalidOperation,
                $"The local KMS exited before it was ready: {(stderr.Length > 0 ? stderr : "no diagnostics")}");
        }

        // From here on the server's output has no reader; it writes nothing after the ready line, and the runtime
        // drops console writes to a closed pipe, so the server keeps running after this object is disposed.
        using var ready = ParseJson(line, "ready line");
        var root = ready.RootElement;
        var accessKey = root.GetProperty("AccessKeyId").GetString()!;
        var secretKey = ReadAdminSecret(dataPath, accessKey);
        return new LocalKmsInstance(new Uri(root.GetProperty("Endpoint").GetString()!), root.GetProperty("ProcessId").GetInt32(), accessKey, secretKey,
            dataPath, root.GetProperty("Region").GetString()!, root.GetProperty("AccountId").GetString()!);
    }

    /// <summary>Stops the server with this process id; refuses processes that are not a local KMS server.</summary>
    public static void Stop(int processId)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(processId);
        }
        catch (ArgumentException)
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsNotRunning, ErrorKind.NotFound, $"No process with id {processId} is running.");
        }

        using (process)
        {
            if (!IsLocalKmsServer(process))
            {
                throw new NitroEnclaveException(KmsErrors.LocalKmsNotAServer, ErrorKind.InvalidArgument, $"Process {processId} is not a local KMS server; it was not stopped.");
            }

            try
            {
                process.Kill();
                process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // It exited in the meantime: stopped either way.
            }
        }
    }

    /// <summary>Adds a principal (for example the parent instance's role) with a new access key to a data path.</summary>
    public static LocalKmsPrincipal AddPrincipal(string serverDirectory, string dataPath, string arn) =>
        RunPrincipalCommand("add-principal", serverDirectory, dataPath, arn);

    /// <summary>The principal's existing access key in a data path, or a new one when it has none.</summary>
    public static LocalKmsPrincipal EnsurePrincipal(string serverDirectory, string dataPath, string arn) =>
        RunPrincipalCommand("ensure-principal", serverDirectory, dataPath, arn);

    private static LocalKmsPrincipal RunPrincipalCommand(string command, string serverDirectory, string dataPath, string arn)
    {
        ArgumentNullException.ThrowIfNull(arn);
        dataPath = Path.GetFullPath(dataPath);
        using var process = Launch(serverDirectory, [command, "--data-path", dataPath, "--arn", arn]);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsCommandFailed, ErrorKind.InvalidArgument, $"Adding the principal failed: {Truncate(stderr.Result.Trim())}");
        }

        using var json = ParseJson(stdout.Trim(), "add-principal output");
        var root = json.RootElement;
        return new LocalKmsPrincipal(root.GetProperty("Arn").GetString()!, root.GetProperty("AccessKeyId").GetString()!, root.GetProperty("SecretAccessKey").GetString()!, dataPath);
    }

    /// <summary>Defines (or redefines) a role in a data path, with who may assume it.</summary>
    public static LocalKmsRole AddRole(string serverDirectory, string dataPath, string arn, IReadOnlyList<string> trustedPrincipals, IReadOnlyList<string> webIdentitySubjects, int? maxSessionDurationSeconds)
    {
        ArgumentNullException.ThrowIfNull(arn);
        dataPath = Path.GetFullPath(dataPath);
        List<string> arguments = ["add-role", "--data-path", dataPath, "--arn", arn];
        arguments.AddRange(trustedPrincipals.SelectMany(p => new[] { "--trust", p }));
        arguments.AddRange(webIdentitySubjects.SelectMany(s => new[] { "--web-identity-subject", s }));
        if (maxSessionDurationSeconds is { } seconds)
        {
            arguments.AddRange(["--max-session-duration", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        using var json = ParseJson(RunCommand(serverDirectory, arguments, "Adding the role"), "add-role output");
        var root = json.RootElement;
        static List<string> Strings(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetString()!)];
        return new LocalKmsRole(root.GetProperty("Arn").GetString()!, Strings(root.GetProperty("TrustedPrincipals")), Strings(root.GetProperty("WebIdentitySubjects")),
            root.GetProperty("MaxSessionDurationSeconds").GetInt32(), dataPath);
    }

    /// <summary>A web identity token (a JWT) from the data path's own provider, for AssumeRoleWithWebIdentity on its port.</summary>
    public static string NewWebIdentityToken(string serverDirectory, string dataPath, string subject, TimeSpan lifetime)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        var seconds = (long)Math.Ceiling(lifetime.TotalSeconds);
        if (seconds is < 1 or > int.MaxValue)
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsCommandFailed, ErrorKind.InvalidArgument, $"The token lifetime {lifetime} is not a positive number of seconds.");
        }

        return RunCommand(serverDirectory,
            ["issue-web-identity-token", "--data-path", Path.GetFullPath(dataPath), "--subject", subject, "--lifetime-seconds", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            "Issuing the web identity token").Trim();
    }

    /// <summary>Runs one server command to its end; its stdout, or LocalKmsCommandFailed with what it said on stderr.</summary>
    private static string RunCommand(string serverDirectory, IEnumerable<string> arguments, string what)
    {
        using var process = Launch(serverDirectory, arguments);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsCommandFailed, ErrorKind.InvalidArgument, $"{what} failed: {Truncate(stderr.Result.Trim())}");
        }

        return stdout.Trim();
    }

    private static Process Launch(string serverDirectory, IEnumerable<string> arguments)
    {
        var start = StartInfo(serverDirectory, arguments);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.CreateNoWindow = true;
        try
        {
            return Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsStartFailed, ErrorKind.InvalidOperation, $"The local KMS could not be started: {ex.Message}", ex);
        }
    }

    /// <summary>How to run the server in <paramref name="serverDirectory"/>: its apphost, or the dotnet host with its dll.</summary>
    internal static ProcessStartInfo StartInfo(string serverDirectory, IEnumerable<string> arguments)
    {
        if (!File.Exists(Path.Combine(serverDirectory, ServerAssemblyName + ".dll")))
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsNotFound, ErrorKind.NotFound,
                $"The local KMS server is not at '{Path.Combine(serverDirectory, ServerAssemblyName + ".dll")}': build the module with 'dotnet build -c Release'.");
        }

        return Hosting.ManagedProgram.StartInfo(serverDirectory, ServerAssemblyName, arguments);
    }

    private static bool IsLocalKmsServer(Process process)
    {
        var commandLine = $"/proc/{process.Id}/cmdline";
        if (File.Exists(commandLine))
        {
            return File.ReadAllText(commandLine).Contains(ServerAssemblyName, StringComparison.Ordinal);
        }

        try
        {
            return process.MainModule?.FileName.Contains(ServerAssemblyName, StringComparison.Ordinal) == true;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>admin.credentials is an AWS shared credentials file: usable as AWS_SHARED_CREDENTIALS_FILE too.</summary>
    internal static string ReadAdminSecret(string dataPath, string accessKey)
    {
        var path = Path.Combine(dataPath, "admin.credentials");
        string? keyId = null, secret = null;
        foreach (var line in File.ReadAllLines(path))
        {
            var parts = line.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && parts[0] == "aws_access_key_id")
            {
                keyId = parts[1];
            }
            else if (parts.Length == 2 && parts[0] == "aws_secret_access_key")
            {
                secret = parts[1];
            }
        }

        return keyId == accessKey && secret is not null
            ? secret
            : throw new NitroEnclaveException(KmsErrors.LocalKmsStartFailed, ErrorKind.InvalidData, $"'{path}' does not hold the administrator's credentials.");
    }

    private static JsonDocument ParseJson(string text, string what)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new NitroEnclaveException(KmsErrors.LocalKmsStartFailed, ErrorKind.InvalidData, $"The local KMS printed an unexpected {what}.", ex);
        }
    }

    private static void StopQuietly(Process process)
    {
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static string Truncate(string text) => text.Length <= MaxDiagnosticChars ? text : text[..MaxDiagnosticChars];
}
