using NitroEnclave.KmsPolicy;

namespace NitroEnclave.Tests.KmsPolicy;

public sealed class KeyPolicyLockoutTests
{
    private const string Account = "111122223333";
    private const string Root = "arn:aws:iam::111122223333:root";
    private const string Admin = "arn:aws:iam::111122223333:role/KeyAdmin";
    private static readonly string A = new('a', 96);

    private static string Data(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "kmspolicy", name));

    private static string Policy(params string[] statements) => "{\"Version\": \"2012-10-17\", \"Statement\": [" + string.Join(",", statements) + "]}";

    private static string Statement(string sid, string effect, string principal, string action, string? condition = null) =>
        $"{{\"Sid\": \"{sid}\", \"Effect\": \"{effect}\", \"Principal\": {principal}, \"Action\": \"{action}\", \"Resource\": \"*\"{(condition is null ? string.Empty : ", \"Condition\": " + condition)}}}";

    [Theory]
    [InlineData("kms-default.json")]
    [InlineData("console.json")]
    public void Adding_or_removing_the_enclave_statements_locks_nobody_out(string file)
    {
        var before = Data(file);
        var settings = new EnclavePolicySettings(PinnedMeasurements.Create(A, A, A, A), ["arn:aws:iam::111122223333:role/Enclave"], includeGenerateDataKey: true);
        var added = EnclavePolicyEditor.Apply(before, settings).PolicyText;

        Assert.Empty(KeyPolicyLockout.LockedOut(before, added, Account, Admin));
        Assert.Empty(KeyPolicyLockout.LockedOut(added, EnclavePolicyEditor.Remove(added).PolicyText, Account, Admin));
    }

    [Fact]
    public void Removing_a_project_statement_that_was_the_only_admin_grant_is_a_lockout()
    {
        // Someone widened the project's allow statement by hand to administer the key: removing it would lock them out.
        var before = Policy(Statement("NitroEnclaveAllowAttestedDecrypt", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"));

        var lost = KeyPolicyLockout.LockedOut(before, EnclavePolicyEditor.Remove(before).PolicyText, Account);

        Assert.Contains(Admin, lost);
    }

    [Theory]
    [InlineData("\"*\"", "kms:PutKeyPolicy", null, true)]
    [InlineData("{\"AWS\": \"111122223333\"}", "kms:Put*", null, true)]
    [InlineData("{\"AWS\": \"arn:aws:iam::111122223333:role/KeyAdmin\"}", "kms:*", null, true)]
    [InlineData("{\"AWS\": \"arn:aws:iam::111122223333:role/Other\"}", "kms:*", null, false)]
    [InlineData("{\"AWS\": \"arn:aws:iam::999999999999:root\"}", "kms:*", null, false)]
    [InlineData("\"*\"", "kms:Decrypt", null, false)]
    [InlineData("\"*\"", "*", "{\"StringNotEqualsIgnoreCase\": {\"kms:RecipientAttestation:PCR0\": \"x\"}}", true)]
    [InlineData("\"*\"", "*", "{\"StringEqualsIgnoreCase\": {\"kms:RecipientAttestation:PCR0\": \"x\"}}", false)]
    [InlineData("\"*\"", "*", "{\"StringEquals\": {\"aws:PrincipalTag/team\": \"x\"}}", true)]
    public void A_deny_for_the_caller_is_a_lockout(string principal, string action, string? condition, bool lockedOut)
    {
        var before = Policy(Statement("Root", "Allow", $"{{\"AWS\": \"{Root}\"}}", "kms:*"));
        var after = Policy(
            Statement("Root", "Allow", $"{{\"AWS\": \"{Root}\"}}", "kms:*"),
            Statement("Deny", "Deny", principal, action, condition));

        var lost = KeyPolicyLockout.LockedOut(before, after, Account, Admin);

        Assert.Equal(lockedOut, lost.Contains(Admin));
    }

    [Fact]
    public void An_allow_that_depends_on_an_unknown_condition_grants_nothing()
    {
        var before = Policy(Statement("Root", "Allow", $"{{\"AWS\": \"{Root}\"}}", "kms:*"));
        var after = Policy(Statement("Root", "Allow", $"{{\"AWS\": \"{Root}\"}}", "kms:*", "{\"Bool\": {\"aws:MultiFactorAuthPresent\": \"true\"}}"));

        Assert.Equal([Root], KeyPolicyLockout.LockedOut(before, after, Account));
    }

    [Fact]
    public void A_policy_nobody_can_change_locks_out_everyone_checked()
    {
        var before = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"));
        var after = Policy(Statement("Use", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:Decrypt"));

        Assert.Equal([Root, Admin], KeyPolicyLockout.LockedOut(before, after, Account));
    }

    [Fact]
    public void A_principal_that_could_not_change_the_policy_before_is_not_reported()
    {
        var before = Policy(
            Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"),
            Statement("User", "Allow", "{\"AWS\": \"arn:aws:iam::111122223333:role/User\"}", "kms:Decrypt"));
        var after = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"));

        Assert.Empty(KeyPolicyLockout.LockedOut(before, after, Account));
    }

    [Fact]
    public void NotAction_and_NotPrincipal_are_understood()
    {
        var before = Policy(Statement("Root", "Allow", $"{{\"AWS\": \"{Root}\"}}", "kms:*"));
        var notAction = before.Replace("\"Action\": \"kms:*\"", "\"NotAction\": \"kms:PutKeyPolicy\"", StringComparison.Ordinal);
        var notPrincipalDeny = Policy(
            Statement("Root", "Allow", $"{{\"AWS\": \"{Root}\"}}", "kms:*"),
            "{\"Effect\": \"Deny\", \"NotPrincipal\": {\"AWS\": \"arn:aws:iam::111122223333:role/Other\"}, \"Action\": \"kms:*\", \"Resource\": \"*\"}");

        Assert.Equal([Root], KeyPolicyLockout.LockedOut(before, notAction, Account));
        Assert.Contains(Admin, KeyPolicyLockout.LockedOut(before, notPrincipalDeny, Account, Admin));
    }

    [Theory]
    [InlineData("arn:aws:iam::111122223333:role/KeyAdmin", false)]
    [InlineData("arn:aws:iam::111122223333:role/admins/KeyAdmin", false)]
    [InlineData("arn:aws:sts::111122223333:assumed-role/KeyAdmin/alice", false)]
    [InlineData("arn:aws:sts::111122223333:assumed-role/KeyAdmin/bob", true)]
    [InlineData("arn:aws:iam::111122223333:role/KeyAdminOther", true)]
    [InlineData("arn:aws:iam::444455556666:role/KeyAdmin", true)]
    public void A_role_session_keeps_PutKeyPolicy_through_its_role_with_any_path_or_its_own_session_ARN(string granted, bool lockedOut)
    {
        const string Session = "arn:aws:sts::111122223333:assumed-role/KeyAdmin/alice";
        var before = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{Session}\"}}", "kms:*"));
        var after = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{granted}\"}}", "kms:*"));

        Assert.Equal(lockedOut, KeyPolicyLockout.LockedOut(before, after, Account, Session).Contains(Session));
    }

    [Fact]
    public void A_caller_that_could_not_change_the_policy_before_is_not_locked_out_by_the_change()
    {
        // Its PutKeyPolicy is refused by KMS whatever the new policy says; the lockout check protects what a caller has.
        const string Caller = "arn:aws:iam::111122223333:user/operator";
        var before = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"));
        var after = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"), Statement("Use", "Allow", $"{{\"AWS\": \"{Caller}\"}}", "kms:Decrypt"));

        Assert.Empty(KeyPolicyLockout.LockedOut(before, after, Account, Caller));
        var adminLosesIt = Policy(Statement("Use", "Allow", $"{{\"AWS\": \"{Caller}\"}}", "kms:*"));
        Assert.Equal([Admin], KeyPolicyLockout.LockedOut(before, adminLosesIt, Account, Caller));
    }

    [Fact]
    public void A_NotPrincipal_deny_naming_only_the_role_still_applies_to_its_sessions()
    {
        const string Session = "arn:aws:sts::111122223333:assumed-role/KeyAdmin/alice";
        var before = Policy(Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"));
        var after = Policy(
            Statement("Admin", "Allow", $"{{\"AWS\": \"{Admin}\"}}", "kms:*"),
            "{\"Sid\": \"DenyOthers\", \"Effect\": \"Deny\", \"NotPrincipal\": {\"AWS\": [\"" + Admin + "\"]}, \"Action\": \"kms:PutKeyPolicy\", \"Resource\": \"*\"}");

        Assert.Contains(Session, KeyPolicyLockout.LockedOut(before, after, Account, Session));
    }
}
