using System.Collections;
using System.Management.Automation;
using NitroEnclave.Tests;

namespace NitroEnclave.PowerShell.Tests;

public sealed class EnclaveAttestationCommandTests : IDisposable
{
    private static readonly string DataDirectory = Path.Combine(ModuleHost.RepositoryRoot, "tests", "data", "attestation");
    private static readonly string EnclavePath = Path.Combine(DataDirectory, "enclave-2026-02-02.b64");
    private static readonly string DebugPath = Path.Combine(DataDirectory, "debug-enclave-2024-12-20.b64");
    private static readonly DateTimeOffset EnclaveTime = new(2026, 2, 2, 20, 43, 47, 502, TimeSpan.Zero);
    private static readonly DateTimeOffset DebugTime = new(2024, 12, 20, 0, 13, 54, 557, TimeSpan.Zero);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("attest-ps-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static byte[] Enclave => Convert.FromBase64String(File.ReadAllText(EnclavePath).Trim());

    [Fact]
    public void A_real_document_file_is_valid_at_its_timestamp_and_the_result_is_shown()
    {
        var result = ModuleHost.Run("Test-EnclaveAttestation -Path $p -At $at", new Dictionary<string, object?> { ["p"] = EnclavePath, ["at"] = EnclaveTime }).AssertNoErrors();

        var output = Assert.Single(result.Output);
        Assert.Equal("NitroEnclave.Attestation.AttestationResult", output.BaseObject.GetType().FullName);
        Assert.Equal(true, output.Properties["IsValid"].Value);
        Assert.Equal("i-0340e0cb833504eb6-enc019c12d31f78864d", output.Properties["ModuleId"].Value);
        Assert.Contains("IsValid", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("aws.nitro-enclaves", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("PCR0 9baef839", result.FormattedText, StringComparison.Ordinal);
    }

    [Fact]
    public void Today_a_real_document_fails_because_its_leaf_expired()
    {
        var result = ModuleHost.Run("(Test-EnclaveAttestation -LiteralPath $p).Failures | ForEach-Object Rule", new Dictionary<string, object?> { ["p"] = DebugPath }).AssertNoErrors();

        Assert.Contains("CertificateExpired", result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Bytes_base64_text_and_objects_with_a_Document_property_are_accepted()
    {
        var variables = new Dictionary<string, object?> { ["bytes"] = Enclave, ["text"] = File.ReadAllText(EnclavePath), ["at"] = EnclaveTime };

        var result = ModuleHost.Run(
            """
            (Test-EnclaveAttestation -Document $bytes -At $at).IsValid
            (Test-EnclaveAttestation $text -At $at).IsValid
            ([pscustomobject]@{ Document = $bytes } | Test-EnclaveAttestation -At $at).IsValid
            (, $bytes | Test-EnclaveAttestation -At $at).IsValid
            (ConvertFrom-EnclaveAttestation $bytes | Test-EnclaveAttestation -At $at).IsValid
            """,
            variables).AssertNoErrors();

        Assert.Equal([true, true, true, true, true], result.Output.Select(o => (bool)o.BaseObject));
    }

    [Fact]
    public void Expected_pcrs_from_a_hashtable_or_a_measurements_object_are_checked()
    {
        var pcr0 = "9BAEF839" + new string('0', 88);
        var actual0 = (string)ModuleHost.Run("(ConvertFrom-EnclaveAttestation -Path $p).PcrHex[0]", new Dictionary<string, object?> { ["p"] = EnclavePath }).AssertNoErrors().Output[0].BaseObject;
        var variables = new Dictionary<string, object?> { ["p"] = EnclavePath, ["at"] = EnclaveTime, ["good"] = actual0.ToUpperInvariant(), ["bad"] = pcr0 };

        var result = ModuleHost.Run(
            """
            (Test-EnclaveAttestation -Path $p -At $at -ExpectedPcr @{ 0 = $good }).IsValid
            (Test-EnclaveAttestation -Path $p -At $at -ExpectedPcr @{ 'PCR0' = $bad }).Failures[0].Rule
            (Test-EnclaveAttestation -Path $p -At $at -ExpectedPcr ([pscustomobject]@{ PCR0 = $good; PCR1 = $null; Path = 'x' })).IsValid
            (Test-EnclaveAttestation -Path $p -At $at -ExpectedPcr ([pscustomobject]@{ PCR0 = $bad })).IsValid
            """,
            variables).AssertNoErrors();

        Assert.Equal<object>([true, "PcrMismatch", true, false], result.Output.Select(o => o.BaseObject));
    }

    [Fact]
    public void Nonce_and_MaxAge_are_checked()
    {
        var result = ModuleHost.Run(
            """
            $doc = ConvertFrom-EnclaveAttestation -Path $p
            (Test-EnclaveAttestation -Path $p -At $at -Nonce $doc.Nonce).IsValid
            (Test-EnclaveAttestation -Path $p -At $at -Nonce 'abcd').Failures[0].Rule
            (Test-EnclaveAttestation -Path $p -At $at.AddMinutes(10) -MaxAge ([timespan]::FromMinutes(5))).Failures | ForEach-Object Rule
            """,
            new Dictionary<string, object?> { ["p"] = EnclavePath, ["at"] = EnclaveTime }).AssertNoErrors();

        Assert.Equal<object>([true, "NonceMismatch", "DocumentTooOld"], result.Output.Select(o => o.BaseObject));
    }

    [Fact]
    public void A_trusted_root_can_be_given_as_a_pem_path_or_certificate()
    {
        using var builder = new TestAttestationBuilder();
        var rootPem = Path.Combine(_dir.FullName, "root.pem");
        File.WriteAllText(rootPem, builder.RootPem());
        var variables = new Dictionary<string, object?> { ["doc"] = builder.Build(), ["root"] = rootPem, ["cert"] = builder.Root, ["at"] = builder.Timestamp };

        var result = ModuleHost.Run(
            """
            (Test-EnclaveAttestation $doc -TrustedRoot $root -At $at).IsValid
            (Test-EnclaveAttestation $doc -TrustedRoot $cert -At $at).IsValid
            (Test-EnclaveAttestation $doc -At $at).Failures | ForEach-Object Rule
            """,
            variables).AssertNoErrors();

        Assert.Equal<object>([true, true, "ChainUntrusted"], result.Output.Select(o => o.BaseObject));
    }

    [Fact]
    public void Bad_setup_is_a_terminating_error_with_a_stable_id()
    {
        var notPem = Path.Combine(_dir.FullName, "root.txt");
        File.WriteAllText(notPem, "not a certificate");
        var variables = new Dictionary<string, object?> { ["p"] = EnclavePath, ["root"] = notPem };

        var badRoot = ModuleHost.Run("Test-EnclaveAttestation -Path $p -TrustedRoot $root", variables);
        var badPcr = ModuleHost.Run("Test-EnclaveAttestation -Path $p -ExpectedPcr @{ 40 = 'ab' }", variables);
        var badHex = ModuleHost.Run("Test-EnclaveAttestation -Path $p -ExpectedPcr @{ 0 = 'xyz' }", variables);
        var badNonce = ModuleHost.Run("Test-EnclaveAttestation -Path $p -Nonce 'not hex'", variables);

        Assert.Equal("AttestationTrustedRootInvalid", TerminatingId(badRoot));
        Assert.Equal("AttestationExpectationInvalid", TerminatingId(badPcr));
        Assert.Equal("AttestationExpectationInvalid", TerminatingId(badHex));
        Assert.Equal("AttestationExpectationInvalid", TerminatingId(badNonce));
    }

    [Fact]
    public void Malformed_documents_are_reported_per_item_and_the_pipeline_goes_on()
    {
        var garbage = Path.Combine(_dir.FullName, "garbage.bin");
        File.WriteAllBytes(garbage, [0x84, 0x01, 0x02]);
        var missing = Path.Combine(_dir.FullName, "missing.b64");

        var result = ModuleHost.Run(
            "Test-EnclaveAttestation -Path $garbage, $missing, $good -At $at | ForEach-Object IsValid; 'not base64!' | Test-EnclaveAttestation; 42 | Test-EnclaveAttestation",
            new Dictionary<string, object?> { ["garbage"] = garbage, ["missing"] = missing, ["good"] = EnclavePath, ["at"] = EnclaveTime });

        Assert.Equal(["AttestationMalformed", "PathNotFound", "AttestationMalformed", "AttestationInputInvalid"], result.ErrorIds);
        Assert.Equal(garbage, result.Errors[0].TargetObject);
        Assert.Equal(ErrorCategory.InvalidData, result.Errors[0].CategoryInfo.Category);
        Assert.Equal(true, Assert.Single(result.Output).BaseObject);
    }

    [Fact]
    public void ConvertFrom_EnclaveAttestation_shows_the_contents_without_judging()
    {
        var result = ModuleHost.Run("ConvertFrom-EnclaveAttestation -Path $p", new Dictionary<string, object?> { ["p"] = DebugPath }).AssertNoErrors();

        var document = Assert.Single(result.Output);
        Assert.Equal("NitroEnclave.Attestation.AttestationDocument", document.BaseObject.GetType().FullName);
        Assert.Equal(true, document.Properties["IsDebugMode"].Value);
        Assert.Equal(16, ((ICollection)document.Properties["Pcrs"].Value).Count);
        Assert.Contains("i-0bbf1bfe232b8c2ce-enc0193db54d723113f", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("PCR0 " + new string('0', 96), result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("fixed-length", result.FormattedText, StringComparison.Ordinal);
        Assert.Contains("CN=aws.nitro-enclaves", result.FormattedText, StringComparison.Ordinal);
        Assert.Equal(DebugTime, (DateTimeOffset)document.Properties["Timestamp"].Value);
    }

    private static string? TerminatingId(ScriptResult result) =>
        (result.Terminating?.ErrorRecord ?? (result.Errors.Count > 0 ? result.Errors[0] : null))?.FullyQualifiedErrorId.Split(',')[0];
}
