using System.Diagnostics;
using System.Text;

namespace NitroEnclave.PowerShell.Tests;

/// <summary>Start-LocalKms, Add-LocalKmsPrincipal and Stop-LocalKms in the hosted engine, against the module folder's server.</summary>
public sealed class LocalKmsCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("localkms-ps-");

    public void Dispose() => _dir.Delete(recursive: true);

    private Dictionary<string, object?> Vars(params (string, object?)[] extra)
    {
        var vars = new Dictionary<string, object?> { ["d"] = Path.Combine(_dir.FullName, "data") };
        foreach (var (name, value) in extra)
        {
            vars[name] = value;
        }

        return vars;
    }

    private static async Task<(int Status, string Body)> PostUnsignedAsync(Uri endpoint)
    {
        using var http = new HttpClient();
        using var content = new StringContent("{}", Encoding.UTF8, "application/x-amz-json-1.1");
        content.Headers.Add("X-Amz-Target", "TrentService.ListKeys");
        using var response = await http.PostAsync(endpoint, content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Start_LocalKms_returns_a_ready_server_and_Stop_LocalKms_stops_it_from_the_pipeline()
    {
        using var session = ModuleHost.OpenSession();
        var started = session.Run("Start-LocalKms -Port 0 -DataPath $d", Vars()).AssertNoErrors();
        var instance = Assert.Single(started.Output);
        Assert.Equal("NitroEnclave.Kms.LocalKmsInstance", instance.BaseObject.GetType().FullName);
        var endpoint = (Uri)instance.Properties["Endpoint"].Value;
        var processId = (int)instance.Properties["ProcessId"].Value;
        try
        {
            Assert.Equal("127.0.0.1", endpoint.Host);
            Assert.NotEqual(0, endpoint.Port);
            Assert.StartsWith("AKIA", (string)instance.Properties["AccessKey"].Value, StringComparison.Ordinal);
            Assert.Equal(40, ModuleHost.SecretOf(instance).Length);
            Assert.Equal("us-east-1", instance.Properties["Region"].Value);
            Assert.Contains(endpoint.ToString().TrimEnd('/'), started.FormattedText, StringComparison.Ordinal);
            Assert.DoesNotContain(ModuleHost.SecretOf(instance), started.FormattedText, StringComparison.Ordinal);

            var (status, body) = await PostUnsignedAsync(endpoint);
            Assert.Equal(400, status);
            Assert.Contains("MissingAuthenticationTokenException", body, StringComparison.Ordinal);

            var added = session.Run("$kms | Add-LocalKmsPrincipal -Arn 'arn:aws:iam::111122223333:role/Parent'", Vars(("kms", instance))).AssertNoErrors();
            var principal = Assert.Single(added.Output);
            Assert.Equal("arn:aws:iam::111122223333:role/Parent", principal.Properties["Arn"].Value);
            Assert.NotEqual(instance.Properties["AccessKey"].Value, principal.Properties["AccessKey"].Value);

            session.Run("$kms | Stop-LocalKms", Vars(("kms", instance))).AssertNoErrors();
            Assert.True(Process.GetProcesses().All(p => p.Id != processId) || Process.GetProcessById(processId).HasExited);
        }
        finally
        {
            try
            {
                Process.GetProcessById(processId).Kill();
            }
            catch (ArgumentException)
            {
                // Stopped by the test, as it should be.
            }
        }

        // A second start on the same data path keeps the administrator; the server stops with the session that started it.
        var again = Assert.Single(ModuleHost.Run("Start-LocalKms -DataPath $d", Vars()).AssertNoErrors().Output);
        Assert.Equal(instance.Properties["AccessKey"].Value, again.Properties["AccessKey"].Value);
        Assert.True(HasExited((int)again.Properties["ProcessId"].Value));
    }

    [Fact]
    public void Stop_LocalKms_refuses_processes_that_are_not_a_local_KMS_and_reports_missing_ones()
    {
        var result = ModuleHost.Run("Stop-LocalKms -ProcessId $self, 2147483646", Vars(("self", Environment.ProcessId)));
        Assert.Equal(["LocalKmsNotAServer", "LocalKmsNotRunning"], result.ErrorIds);
        Assert.False(Process.GetCurrentProcess().HasExited);
    }

    [Fact]
    public void Start_LocalKms_fails_cleanly_on_a_bad_trusted_root()
    {
        var pem = Path.Combine(_dir.FullName, "root.pem");
        File.WriteAllText(pem, "not a certificate");
        var result = ModuleHost.Run("Start-LocalKms -DataPath $d -TrustedRootPath $pem", Vars(("pem", pem)));
        Assert.Equal(["LocalKmsStartFailed"], result.ErrorIds);
        Assert.Contains("certificate", result.Errors[0].Exception.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(result.Output);

        var missing = ModuleHost.Run("Start-LocalKms -DataPath $d -TrustedRootPath $pem", Vars(("pem", Path.Combine(_dir.FullName, "none.pem"))));
        Assert.Equal(["PathNotFound"], missing.ErrorIds);
        Assert.Empty(missing.Output);
    }

    [Fact]
    public void Add_LocalKmsPrincipal_rejects_an_ARN_that_is_not_a_principal()
    {
        var result = ModuleHost.Run("Add-LocalKmsPrincipal -DataPath $d -Arn 'not-an-arn'", Vars());
        Assert.Equal(["LocalKmsCommandFailed"], result.ErrorIds);
        Assert.Contains("not an IAM user or role ARN", result.Errors[0].Exception.Message, StringComparison.Ordinal);
    }

    private static bool HasExited(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}
