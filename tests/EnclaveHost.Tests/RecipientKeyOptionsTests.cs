using System.Diagnostics;
using NitroEnclave.Kms;

namespace NitroEnclave.EnclaveHost.Tests;

/// <summary>The server's --recipient-key options: parsed into a policy, refused with a usage error when they disagree.</summary>
public sealed class RecipientKeyOptionsTests
{
    private static readonly HashSet<string> ValueOptions = ["--recipient-key", "--recipient-key-lifetime", "--recipient-key-max-uses"];

    [Fact]
    public void Without_options_the_key_pair_is_reused_within_the_default_bounds()
    {
        Assert.Equal(RecipientKeyPolicy.Reuse, Policy());
    }

    [Fact]
    public void Reuse_takes_a_lifetime_and_a_number_of_uses()
    {
        var policy = Policy("--recipient-key", "reuse", "--recipient-key-lifetime", "120", "--recipient-key-max-uses", "7");

        Assert.Equal(TimeSpan.FromSeconds(120), policy.Lifetime);
        Assert.Equal(7, policy.MaxUses);
        Assert.Equal(RecipientKeyPolicy.Reuse.DocumentMaxAge, policy.DocumentMaxAge);
    }

    [Fact]
    public void Per_request_uses_each_key_pair_once()
    {
        var policy = Policy("--recipient-key", "per-request", "--recipient-key-lifetime", "60");

        Assert.True(policy.IsFreshPerRequest);
        Assert.Equal(TimeSpan.FromSeconds(60), policy.Lifetime);
    }

    [Theory]
    [InlineData("--recipient-key is 'reuse' or 'per-request'", "--recipient-key", "sometimes")]
    [InlineData("--recipient-key-max-uses applies to --recipient-key reuse only", "--recipient-key", "per-request", "--recipient-key-max-uses", "5")]
    [InlineData("--recipient-key-lifetime needs a whole number of at least 10", "--recipient-key-lifetime", "5")]
    [InlineData("--recipient-key-lifetime is at most 86400 seconds (one day)", "--recipient-key-lifetime", "86401")]
    [InlineData("--recipient-key-max-uses needs a whole number of at least 1", "--recipient-key-max-uses", "0")]
    public void Options_that_disagree_are_usage_errors(string message, params string[] args)
    {
        Assert.Equal(message, Assert.Throws<UsageException>(() => Policy(args)).Message);
    }

    [Fact]
    public void The_server_knows_the_options_lists_them_in_its_usage_and_exits_2_on_a_bad_value()
    {
        var help = RunServer("--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--recipient-key reuse|per-request", help.Output, StringComparison.Ordinal);
        Assert.Contains("--recipient-key-lifetime S", help.Output, StringComparison.Ordinal);
        Assert.Contains("--recipient-key-max-uses N", help.Output, StringComparison.Ordinal);

        var refused = RunServer("serve", "--listen", "tcp://127.0.0.1:0", "--nsm", "simulated", "--recipient-key", "per-request", "--recipient-key-max-uses", "5");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--recipient-key-max-uses applies to --recipient-key reuse only", refused.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("unknown option", refused.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_pcrs_from_eif_image_is_a_startup_error_not_an_abort()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.eif");

        var run = RunServer("serve", "--listen", "tcp://127.0.0.1:0", "--nsm", "simulated", "--nsm-state", Path.Combine(Path.GetTempPath(), $"nsm-{Guid.NewGuid():N}"), "--pcrs-from-eif", missing);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"\"event\":\"startup-failed\",\"code\":\"{ServerSetup.ImageUnreadable}\"", run.Error, StringComparison.Ordinal);
    }

    private static RecipientKeyPolicy Policy(params string[] args) =>
        ServerSetup.RecipientKeyPolicy(CommandLine.Parse(["serve", .. args], ValueOptions, new HashSet<string>()));

    private static (int ExitCode, string Output, string Error) RunServer(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EnclaveHost")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(30_000), "the server did not exit");
        return (process.ExitCode, output.Result, error.Result);
    }
}
