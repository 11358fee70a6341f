using System.Globalization;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using NitroEnclave.Attestation;
using NitroEnclave.Aws;
using NitroEnclave.Eif;
using NitroEnclave.Enclave;
using NitroEnclave.Hosting;
using NitroEnclave.Kms;
using NitroEnclave.KmsPolicy;

namespace NitroEnclave.Simulation;

/// <summary>What a simulation runs on and where it keeps its state.</summary>
public sealed class EnclaveSimulationOptions
{
    /// <summary>The module folder (it holds enclavehost/ and localkms/).</summary>
    public required string ModuleDirectory { get; init; }

    /// <summary>State kept between runs: the simulated certificate chain, the local KMS's keys, logs.</summary>
    public required string DataPath { get; init; }

    /// <summary>Serve the enclave protocol on a Unix socket in the data path instead of a loopback TCP port.</summary>
    public bool UnixSocket { get; init; }

    /// <summary>All PCRs read as zero, as in a debug-mode enclave.</summary>
    public bool DebugMode { get; init; }

    /// <summary>
    /// Report this image's PCRs. Without it, the simulation builds (or reuses) a reproducible image from the module's
    /// simulation blobs and its enclave server folder, and reports that one's.
    /// </summary>
    public string? ImagePath { get; init; }

    public string KeyAlias { get; init; } = "alias/nitroenclave-simulation";

    /// <summary>How many enclave servers to start (a fleet shares the local KMS and the simulated chain).</summary>
    public int EnclaveCount { get; init; } = 1;

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The whole flow on one machine: the local KMS (trusting the simulated security module's root) and the enclave server
/// (simulated security module, KMS at the local endpoint) as child processes, the two principals of the real trust
/// split (the data owner, who owns the key, and the parent instance), and a KMS key with an alias, pinned to the
/// simulated enclave by the data owner.
/// </summary>
public sealed class EnclaveSimulation : IDisposable
{
    private readonly ReadyProcess _kms;
    private readonly IReadOnlyList<ReadyProcess> _enclaves;

    private EnclaveSimulation(ReadyProcess kms, IReadOnlyList<ReadyProcess> enclaves, EnclaveSimulationOptions options, string imagePath, EnclaveMeasurements pcrs,
        SimulationPrincipals principals, string keyArn, string resultKeyArn, string rootCertificatePath, string kmsLog)
    {
        _kms = kms;
        _enclaves = enclaves;
        var kmsReady = kms.Ready;
        KmsEndpoint = kmsReady.GetProperty("Endpoint").GetString()!;
        Region = kmsReady.GetProperty(nameof(Region)).GetString()!;
        Credential = principals.Parent.Credential;
        ParentArn = principals.Parent.Arn;
        DataOwnerCredential = principals.DataOwner.Credential;
        DataOwnerArn = principals.DataOwner.Arn;
        // Arrays, so PowerShell indexes them ($sim.EnclaveProcessIds[1]).
        EnclaveEndpoints = enclaves.Select(e => e.Ready.GetProperty("endpoint").GetString()!).ToArray();
        ImagePath = imagePath;
        Pcrs = pcrs;
        KeyArn = keyArn;
        KeyAlias = options.KeyAlias;
        ResultKeyArn = resultKeyArn;
        ResultKeyAlias = ResultKeyAliasFor(options.KeyAlias);
        DebugMode = options.DebugMode;
        DataPath = options.DataPath;
        RootCertificatePath = rootCertificatePath;
        LogFiles = [kmsLog, .. enclaves.Select(e => e.LogPath!)];
        StartedAt = DateTimeOffset.Now;
    }

    /// <summary>The first enclave server's endpoint (the only one unless -EnclaveCount was given).</summary>
    public string EnclaveEndpoint => EnclaveEndpoints[0];

    /// <summary>Every enclave server's endpoint: pass them all to Invoke-EnclaveDetection -Endpoint for a fleet.</summary>
    public IReadOnlyList<string> EnclaveEndpoints { get; }

    public string KmsEndpoint { get; }

    public string KeyAlias { get; }

    public string KeyArn { get; }

    /// <summary>
    /// The key of confidential results (Invoke-EnclaveDetection -ResultKeyId): only the attested enclave may make
    /// data keys under it, only the data owner may decrypt. Its alias is the input key's with "-results".
    /// </summary>
    public string ResultKeyAlias { get; }

    public string ResultKeyArn { get; }

    public string Region { get; }

    /// <summary>The parent instance's access key id: the principal of the session defaults.</summary>
    public string AccessKey => Credential.AccessKey;

    /// <summary>
    /// The parent instance's credentials, which the session defaults use: they may encrypt inputs and pass on to the
    /// enclave for its attested calls, but decrypt nothing themselves and cannot change the key policy. The secret
    /// does not print.
    /// </summary>
    public AwsKeyCredential Credential { get; }

    /// <summary>The parent instance's principal (a role in the local KMS's account).</summary>
    public string ParentArn { get; }

    /// <summary>
    /// The data owner's credentials, for -Credential: the owner administers the keys and their policies, encrypts
    /// inputs and reads results. The secret does not print.
    /// </summary>
    public AwsKeyCredential DataOwnerCredential { get; }

    /// <summary>The data owner's principal (a user in the local KMS's account).</summary>
    public string DataOwnerArn { get; }

    /// <summary>The enclave image whose PCRs the simulated enclave reports: Get-EnclavePcr on it reads the same.</summary>
    public string ImagePath { get; }

    /// <summary>The PCRs the simulated enclave reports (all zero in debug mode).</summary>
    public EnclaveMeasurements Pcrs { get; }

    public bool DebugMode { get; }

    /// <summary>The simulated security module's root certificate: pass it to Test-EnclaveAttestation -TrustedRoot.</summary>
    public string RootCertificatePath { get; }

    public string DataPath { get; }

    public IReadOnlyList<string> LogFiles { get; }

    public int KmsProcessId => _kms.ProcessId;

    public int EnclaveProcessId => _enclaves[0].ProcessId;

    public IReadOnlyList<int> EnclaveProcessIds => _enclaves.Select(e => e.ProcessId).ToArray();

    public DateTimeOffset StartedAt { get; }

    /// <summary>The local KMS and at least one enclave server still run.</summary>
    public bool IsRunning => !_kms.HasExited && _enclaves.Any(e => !e.HasExited);

    /// <summary>The name Get-Enclave lists the simulated enclave under.</summary>
    public const string EnclaveName = "simulation";

    /// <summary>How every simulated enclave id starts; no real id does (theirs start with the instance id).</summary>
    public const string EnclaveIdPrefix = "i-simulation-enc";

    /// <summary>
    /// The simulated enclaves as Get-Enclave lists them: "simulation", then "simulation-2" and on for a fleet. Ids
    /// have the shape of real ones (i-…-enc…) so scripts that parse ids keep working; the CID is 0 (no vsock here:
    /// Endpoint says where each listens); CPUs and memory are the machine's and the server's resident memory, since
    /// nothing is carved out for them.
    /// </summary>
    public IReadOnlyList<EnclaveInfo> DescribeEnclaves() =>
        [.. _enclaves.Select((server, index) => new EnclaveInfo(
            index == 0 ? EnclaveName : $"{EnclaveName}-{index + 1}",
            SimulatedEnclaveId(server.ProcessId),
            server.ProcessId,
            0,
            Environment.ProcessorCount,
            Enumerable.Range(0, Environment.ProcessorCount).ToList(),
            ResidentMiB(server.ProcessId),
            server.HasExited ? "EMPTY" : "RUNNING",
            DebugMode ? "DEBUG_MODE" : "NONE",
            Pcrs,
            EnclaveEndpoints[index]))];

    private static long ResidentMiB(int processId)
    {
        try
        {
            using var server = System.Diagnostics.Process.GetProcessById(processId);
            return server.WorkingSet64 / (1024 * 1024);
        }
        catch (ArgumentException)
        {
            return 0;
        }
    }

    /// <summary>The id of the simulated enclave served by process <paramref name="processId"/>.</summary>
    public static string SimulatedEnclaveId(int processId) => $"{EnclaveIdPrefix}{processId:x16}";

    /// <summary>Where the two servers listen and the key; never the credentials' secret.</summary>
    public override string ToString() => $"enclave {EnclaveEndpoint}, KMS {KmsEndpoint}, key {KeyAlias}{(DebugMode ? " (debug mode)" : string.Empty)}";

    public static EnclaveSimulation Start(EnclaveSimulationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ManagedProgram.EnsureSimulationRuns();
        var nsmState = Path.Combine(options.DataPath, "nsm");
        var logs = Directory.CreateDirectory(Path.Combine(options.DataPath, "logs")).FullName;
        var rootCertificate = Path.Combine(nsmState, "root.pem");
        if (!File.Exists(rootCertificate))
        {
            // The chain exists before either server starts, so the local KMS can be told to trust its root.
            using var chain = SimulatedNsmChain.Create();
            chain.Save(nsmState);
        }

        var kmsLog = Path.Combine(logs, "localkms.log");
        var kmsServer = Path.Combine(options.ModuleDirectory, "localkms");
        var kmsData = Path.Combine(options.DataPath, "kms");
        var kms = ReadyProcess.Start(
            LocalKmsProcess.StartInfo(kmsServer, ["serve", "--data-path", kmsData, "--port", "0", "--trust-root", rootCertificate]),
            kmsLog,
            options.StartTimeout,
            cancellationToken);
        var enclaves = new List<ReadyProcess>();
        try
        {
            var imagePath = options.ImagePath ?? SimulatedImage(options, cancellationToken);
            // A debug-mode enclave reports all-zero PCRs, which no policy can pin (every debug enclave reports them):
            // the keys are pinned to the image's own measurements, so KMS refuses the debug enclave, as AWS does.
            // Read now, as the enclave servers read the image, before another module's simulation may replace it.
            var imageMeasurements = options.DebugMode ? EnclaveImageReader.Read(imagePath, cancellationToken).Measurements : null;
            for (var index = 0; index < Math.Max(1, options.EnclaveCount); index++)
            {
                // The first server keeps the names it always had; the others are numbered from 2.
                var suffix = index == 0 ? string.Empty : $"-{index + 1}";
                enclaves.Add(StartEnclaveServer(options, imagePath, nsmState, kms.Ready.GetProperty("Endpoint").GetString()!, $"enclave{suffix}.sock", Path.Combine(logs, $"enclavehost{suffix}.log"), cancellationToken));
            }

            var account = kms.Ready.GetProperty("AccountId").GetString()!;
            var principals = new SimulationPrincipals(
                LocalKmsProcess.EnsurePrincipal(kmsServer, kmsData, DataOwnerArnIn(account)),
                LocalKmsProcess.EnsurePrincipal(kmsServer, kmsData, ParentArnIn(account)));
            var ready = enclaves[0].Ready.GetProperty("pcrs");
            var pcrs = new EnclaveMeasurements(imagePath, ready.GetProperty("PCR0").GetString()!, ready.GetProperty("PCR1").GetString()!, ready.GetProperty("PCR2").GetString()!, null, null);
            var pinned = imageMeasurements ?? pcrs;
            var (keyArn, resultKeyArn) = EnsureKeys(kms, options, principals, pinned, cancellationToken);
            return new EnclaveSimulation(kms, enclaves, options, imagePath, pcrs, principals, keyArn, resultKeyArn, rootCertificate, kmsLog);
        }
        catch
        {
            enclaves.ForEach(e => e.Dispose());
            kms.Dispose();
            throw;
        }
    }

    private static ReadyProcess StartEnclaveServer(EnclaveSimulationOptions options, string imagePath, string nsmState, string kmsEndpoint, string socketName, string logPath, CancellationToken cancellationToken)
    {
        var listen = options.UnixSocket ? "unix:" + Path.Combine(options.DataPath, socketName) : "tcp://127.0.0.1:0";
        List<string> arguments = ["serve", "--listen", listen, "--nsm", "simulated", "--nsm-state", nsmState, "--kms-endpoint", kmsEndpoint];
        if (options.DebugMode)
        {
            arguments.Add("--debug-mode");
        }

        arguments.AddRange(["--pcrs-from-eif", imagePath]);

        // The NativeAOT server is the one the image holds: where the module has it for this machine, the simulation runs
        // that very executable (and starts without JIT); elsewhere the framework-dependent build.
        var start = ManagedProgram.NativeStartInfo(Path.Combine(options.ModuleDirectory, "enclavehost-aot", "EnclaveHost"), arguments)
            ?? ManagedProgram.StartInfo(Path.Combine(options.ModuleDirectory, "enclavehost"), "EnclaveHost", arguments);
        return ReadyProcess.Start(start, logPath, options.StartTimeout, cancellationToken);
    }

    /// <summary>
    /// The image the simulated enclave is measured as: New-EnclaveImage -Reproducible over the module's simulation
    /// blobs and the image inputs it ships (the NativeAOT server and the root's system files), so the image a real
    /// instance would run with nitro-cli's blobs differs in PCR0 and PCR1 only. It is a pure function of those files,
    /// so it is built once per set of them (named by a hash of their paths, sizes and write times) in the user's cache
    /// and reused by every simulation; a build for other files of the same module folder replaces it. Another copy of
    /// the module (an installed one, another checkout) has images of its own: deleting those could pull an image from
    /// under a simulation that is about to read it.
    /// </summary>
    private static string SimulatedImage(EnclaveSimulationOptions options, CancellationToken cancellationToken)
    {
        var blobs = Path.Combine(options.ModuleDirectory, "simulation", "blobs");
        var server = EnclaveImageInputs.ServerPath(options.ModuleDirectory);
        var rootfs = EnclaveImageInputs.RootfsPath(options.ModuleDirectory);
        foreach (var (folder, errorId) in new[] { (server, ReproducibleImage.ServerMissing), (rootfs, ReproducibleImage.RootfsMissing) })
        {
            if (!Directory.Exists(folder))
            {
                throw new NitroEnclaveException(errorId, ErrorKind.NotFound, $"The module has no '{folder}': the simulation measures the image it would deploy, which the module's build lays out on linux-x64 (scripts/prepare.sh, then dotnet build).");
            }
        }

        var inputs = string.Join('\n', new[] { blobs, server, rootfs }.SelectMany(folder => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(file => new FileInfo(file))
            .Select(file => FormattableString.Invariant($"{file.FullName}\t{file.Length}\t{file.LastWriteTimeUtc.Ticks}"))));
        static string Hash(string text) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();
        var module = Hash(Path.GetFullPath(options.ModuleDirectory));
        var cache = Directory.CreateDirectory(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "NitroEnclave", "simulation-images"));
        var image = Path.Combine(cache.FullName, $"detector-{module}-{Hash(inputs)}.eif");
        if (File.Exists(image))
        {
            return image;
        }

        ReproducibleImage.Build(new ReproducibleImageOptions { BlobPath = blobs, ServerPath = server, RootfsPath = rootfs, OutputPath = image }, cancellationToken);
        foreach (var stale in cache.EnumerateFiles($"detector-{module}-*.eif").Where(f => f.FullName != image))
        {
            stale.Delete();
        }

        return image;
    }

    /// <summary>Stops the servers: each enclave server finishes requests in flight first.</summary>
    public void Dispose()
    {
        foreach (var enclave in _enclaves)
        {
            enclave.Dispose();
        }

        _kms.Dispose();
    }

    /// <summary>The data owner's principal in the simulation's account.</summary>
    public static string DataOwnerArnIn(string accountId) => $"arn:aws:iam::{accountId}:user/data-owner";

    /// <summary>The parent instance's principal in the simulation's account.</summary>
    public static string ParentArnIn(string accountId) => $"arn:aws:iam::{accountId}:role/parent-instance";

    /// <summary>
    /// The input key's policy, given on every start. It names both principals explicitly: the default policy's
    /// account root would match every principal of the account, the parent included, and so let the parent rewrite
    /// the policy that denies it. The data owner may do everything (Decrypt too, were it not for the pinned Deny
    /// statements, which apply to everyone without the enclave's attestation); the parent may read the key and its
    /// policy and encrypt inputs. The key is pinned to <paramref name="pinned"/> with the parent as the principal of
    /// the attested calls, since the enclave signs them with the parent's credentials.
    /// </summary>
    public static string KeyPolicyText(string dataOwnerArn, string parentArn, EnclaveMeasurements pinned)
    {
        ArgumentNullException.ThrowIfNull(pinned);
        var settings = new EnclavePolicySettings(Measurements(pinned), [parentArn]);
        return EnclavePolicyEditor.Apply(BasePolicy(dataOwnerArn, parentArn, "ParentEncryptsInputs", ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:Encrypt", "kms:GenerateDataKey"]), settings).PolicyText;
    }

    /// <summary>
    /// The result key's policy, given on every start: the result key's statements of Set-KmsEnclavePolicy -ResultKey
    /// (only the attested enclave, with the parent's credentials, may GenerateDataKey; only the data owner may
    /// Decrypt) over the same two explicit principals, the parent reading only the key and its policy.
    /// </summary>
    public static string ResultKeyPolicyText(string dataOwnerArn, string parentArn, EnclaveMeasurements pinned)
    {
        ArgumentNullException.ThrowIfNull(pinned);
        var settings = EnclavePolicySettings.ForResultKey(Measurements(pinned), [parentArn], [dataOwnerArn]);
        return EnclavePolicyEditor.Apply(BasePolicy(dataOwnerArn, parentArn, "ParentReadsTheKey", ["kms:DescribeKey", "kms:GetKeyPolicy"]), settings).PolicyText;
    }

    /// <summary>The alias of the result key that goes with an input key's alias.</summary>
    public static string ResultKeyAliasFor(string keyAlias) => keyAlias + "-results";

    private static PinnedMeasurements Measurements(EnclaveMeasurements pinned) => PinnedMeasurements.Create(pinned.PCR0, pinned.PCR1, pinned.PCR2, pinned.PCR8);

    private static string BasePolicy(string dataOwnerArn, string parentArn, string parentSid, IEnumerable<string> parentActions) =>
        $$"""
        {
          "Version": "2012-10-17",
          "Id": "nitroenclave-simulation",
          "Statement": [
            {
              "Sid": "DataOwnerAdministersTheKey",
              "Effect": "Allow",
              "Principal": { "AWS": "{{dataOwnerArn}}" },
              "Action": "kms:*",
              "Resource": "*"
            },
            {
              "Sid": "{{parentSid}}",
              "Effect": "Allow",
              "Principal": { "AWS": "{{parentArn}}" },
              "Action": [ {{string.Join(", ", parentActions.Select(a => $"\"{a}\""))}} ],
              "Resource": "*"
            }
          ]
        }
        """;

    /// <summary>
    /// The input key and the result key, each created by the data owner when its alias does not exist yet; either way
    /// the data owner then gives it the simulation's policy, pinned to this start's image.
    /// </summary>
    private static (string KeyArn, string ResultKeyArn) EnsureKeys(ReadyProcess kms, EnclaveSimulationOptions options, SimulationPrincipals principals, EnclaveMeasurements pinned, CancellationToken cancellationToken)
    {
        var ready = kms.Ready;
        var owner = principals.DataOwner.Credential.GetCredentials();
        using var client = AwsClientFactory.CreateKmsClient(new AwsConnectionSettings
        {
            AccessKey = owner.AccessKey,
            SecretKey = owner.SecretKey,
            Region = ready.GetProperty(nameof(Region)).GetString(),
            EndpointUrl = ready.GetProperty("Endpoint").GetString(),
        });
        var (dataOwner, parent) = (principals.DataOwner.Arn, principals.Parent.Arn);
        return (
            EnsureKey(client, options.KeyAlias, "NitroEnclave simulation key", KeyPolicyText(dataOwner, parent, pinned), dataOwner, cancellationToken),
            EnsureKey(client, ResultKeyAliasFor(options.KeyAlias), "NitroEnclave simulation result key", ResultKeyPolicyText(dataOwner, parent, pinned), dataOwner, cancellationToken));
    }

    private static string EnsureKey(AmazonKeyManagementServiceClient client, string alias, string description, string policy, string dataOwnerArn, CancellationToken cancellationToken)
    {
        try
        {
            string keyArn;
            try
            {
                keyArn = client.DescribeKeyAsync(new DescribeKeyRequest { KeyId = alias }, cancellationToken).GetAwaiter().GetResult().KeyMetadata.Arn;
            }
            catch (NotFoundException)
            {
                var created = client.CreateKeyAsync(new CreateKeyRequest
                {
                    Description = description + " " + DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
                    Policy = policy,
                }, cancellationToken).GetAwaiter().GetResult();
                client.CreateAliasAsync(new CreateAliasRequest { AliasName = alias, TargetKeyId = created.KeyMetadata.KeyId }, cancellationToken).GetAwaiter().GetResult();
                return created.KeyMetadata.Arn;
            }

            client.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = keyArn, PolicyName = KmsKeyPolicyClient.PolicyName, Policy = policy }, cancellationToken).GetAwaiter().GetResult();
            return keyArn;
        }
        catch (AmazonKeyManagementServiceException ex)
        {
            throw new NitroEnclaveException("SimulationKeyFailed", ErrorKind.InvalidOperation,
                $"The local KMS refused the data owner {dataOwnerArn} setting up the simulation key {alias}: {ex.ErrorCode}. A key whose policy was changed to exclude the data owner cannot be reset; use another -KeyAlias or -DataPath.", ex);
        }
    }

    /// <summary>The two principals of a simulation.</summary>
    private sealed record SimulationPrincipals(LocalKmsPrincipal DataOwner, LocalKmsPrincipal Parent);
}
