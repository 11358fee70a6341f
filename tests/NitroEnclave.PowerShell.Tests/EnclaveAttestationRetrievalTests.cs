namespace NitroEnclave.PowerShell.Tests;

public sealed class EnclaveAttestationRetrievalTests : IClassFixture<EnclaveAttestationRetrievalTests.Server>
{
    private readonly EnclaveServerProcess _server;

    public EnclaveAttestationRetrievalTests(Server server) => _server = server.Process;

    public sealed class Server : IDisposable
    {
        public EnclaveServerProcess Process { get; } = EnclaveServerProcess.Start();

        public void Dispose() => Process.Dispose();
    }

    [Fact]
    public void Get_EnclaveAttestation_returns_a_document_carrying_a_fresh_nonce()
    {
        var result = ModuleHost.Run(
            "Get-EnclaveAttestation -Endpoint $e; Get-EnclaveAttestation -Endpoint $e -UserData ([byte[]](1, 2, 3))",
            new Dictionary<string, object?> { ["e"] = _server.Endpoint }).AssertNoErrors();

        Assert.Equal(2, result.Output.Count);
        var first = result.Output[0];
        var document = (byte[])first.Properties["Document"].Value;
        var nonce = (byte[])first.Properties["Nonce"].Value;
        Assert.Equal(32, nonce.Length);
        Assert.True(document.AsSpan().IndexOf(nonce) > 0, "the document carries the nonce");
        Assert.NotEqual(nonce, (byte[])result.Output[1].Properties["Nonce"].Value);
        Assert.Equal(_server.Endpoint, first.Properties["Endpoint"].Value);
        Assert.Contains("COSE_Sign1", result.FormattedText, StringComparison.Ordinal);
    }

    [Fact]
    public void A_document_from_the_server_passes_Test_EnclaveAttestation_with_the_simulation_root_and_its_PCRs()
    {
        var variables = new Dictionary<string, object?> { ["e"] = _server.Endpoint, ["root"] = _server.RootCertificatePath, ["pcr0"] = _server.Pcr0 };

        var good = ModuleHost.Run("Get-EnclaveAttestation -Endpoint $e | Test-EnclaveAttestation -TrustedRoot $root -ExpectedPcr @{ 0 = $pcr0 }", variables).AssertNoErrors();
        var wrongPcr = ModuleHost.Run("Get-EnclaveAttestation -Endpoint $e | Test-EnclaveAttestation -TrustedRoot $root -ExpectedPcr @{ 0 = 'ab' * 48 }", variables).AssertNoErrors();
        var awsRoot = ModuleHost.Run("Get-EnclaveAttestation -Endpoint $e | Test-EnclaveAttestation", variables).AssertNoErrors();

        Assert.Equal(true, Assert.Single(good.Output).Properties["IsValid"].Value);
        Assert.Equal(false, Assert.Single(wrongPcr.Output).Properties["IsValid"].Value);
        Assert.Equal(false, Assert.Single(awsRoot.Output).Properties["IsValid"].Value);
    }

    [Fact]
    public void A_server_that_is_not_there_is_a_typed_error_naming_the_endpoint()
    {
        var result = ModuleHost.Run("Get-EnclaveAttestation -Endpoint 'tcp://127.0.0.1:1' -TimeoutSec 5");

        Assert.Equal(["EnclaveUnavailable"], result.ErrorIds);
    }

    [Fact]
    public void Endpoint_and_Cid_together_are_refused()
    {
        var result = ModuleHost.Run("Get-EnclaveAttestation -Endpoint 'tcp://127.0.0.1:1' -Cid 16");

        Assert.Equal(["EndpointConflict"], result.ErrorIds);
    }

    [Fact]
    public void Without_an_endpoint_the_enclave_is_found_with_nitro_cli_and_none_running_is_a_clear_error()
    {
        var fakeNitroCli = Path.Combine(ModuleHost.RepositoryRoot, "tests", "data", "fake-nitro-cli");
        var state = Directory.CreateTempSubdirectory("nitro-state-").FullName;
        try
        {
            var result = ModuleHost.Run(
                "$env:PATH = $fake + ':' + $env:PATH; $env:FAKE_NITRO_CLI_STATE = $state; Get-EnclaveAttestation",
                new Dictionary<string, object?> { ["fake"] = fakeNitroCli, ["state"] = state });

            Assert.Equal(["EnclaveNotFound"], result.ErrorIds);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
