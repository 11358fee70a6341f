using NitroEnclave.LocalKms.Policy;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>Key policy evaluation, case by case: one statement (or two) against one request context.</summary>
public sealed class PolicyEvaluationTests
{
    private const string Account = "111122223333";
    private const string Key = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";
    private const string Parent = "arn:aws:iam::111122223333:role/Parent";
    private const string Pcr0 = "aaaa";

    public static TheoryData<string, string, string, string, string, string> Cases() => new()
    {
        // name, statements, principal, action, context ("pcr0" = attested with PCR0 aaaa, "ctx" = EncryptionContext purpose=test), expected
        { "root principal means any principal of the account", Allow("""{"AWS":"arn:aws:iam::111122223333:root"}""", "kms:*"), Parent, "kms:Decrypt", "", "Allow" },
        { "bare account id means the account root", Allow("""{"AWS":"111122223333"}""", "kms:Decrypt"), Parent, "kms:Decrypt", "", "Allow" },
        { "another account's root does not match", Allow("""{"AWS":"arn:aws:iam::444455556666:root"}""", "kms:*"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "exact principal ARN", Allow($$"""{"AWS":["{{Parent}}"]}""", "kms:Decrypt"), Parent, "kms:Decrypt", "", "Allow" },
        { "other principal ARN", Allow("""{"AWS":"arn:aws:iam::111122223333:role/Other"}""", "kms:Decrypt"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "star principal", Allow("\"*\"", "kms:Decrypt"), Parent, "kms:Decrypt", "", "Allow" },
        { "AWS star principal", Allow("""{"AWS":"*"}""", "kms:Decrypt"), Parent, "kms:Decrypt", "", "Allow" },
        { "action wildcard prefix", Allow("\"*\"", "kms:ReEncrypt*"), Parent, "kms:ReEncryptFrom", "", "Allow" },
        { "action wildcard does not over-match", Allow("\"*\"", "kms:ReEncrypt*"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "action names are case-insensitive", Allow("\"*\"", "KMS:decrypt"), Parent, "kms:Decrypt", "", "Allow" },
        { "action ? wildcard", Allow("\"*\"", "kms:?ncrypt"), Parent, "kms:Encrypt", "", "Allow" },
        { "other service's action never matches", Allow("\"*\"", "s3:*"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "resource key ARN", Allow("\"*\"", "kms:*", resource: Key), Parent, "kms:Decrypt", "", "Allow" },
        { "resource wildcard ARN", Allow("\"*\"", "kms:*", resource: "arn:aws:kms:*:111122223333:key/*"), Parent, "kms:Decrypt", "", "Allow" },
        { "resource of another key", Allow("\"*\"", "kms:*", resource: "arn:aws:kms:us-east-1:111122223333:key/other"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "explicit deny wins over allow", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt"), Parent, "kms:Decrypt", "", "ExplicitDeny" },
        { "deny of another action leaves allow", Allow("\"*\"", "kms:*") + "," + Deny("kms:Encrypt"), Parent, "kms:Decrypt", "", "Allow" },
        { "StringEquals on PCR0 matches the attested value", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:RecipientAttestation:PCR0", Pcr0)), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "StringEquals is case-sensitive", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:RecipientAttestation:PCR0", "AAAA")), Parent, "kms:Decrypt", "pcr0", "ImplicitDeny" },
        { "StringEqualsIgnoreCase ignores case", Allow("\"*\"", "kms:Decrypt", Cond("StringEqualsIgnoreCase", "kms:RecipientAttestation:PCR0", "AAAA")), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "ImageSha384 is PCR0", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:RecipientAttestation:ImageSha384", Pcr0)), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "condition key names are case-insensitive", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "KMS:recipientattestation:pcr0", Pcr0)), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "positive operator on a missing key fails", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:RecipientAttestation:PCR0", Pcr0)), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "negated operator on a missing key holds: the parent is denied", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt", Cond("StringNotEqualsIgnoreCase", "kms:RecipientAttestation:PCR0", Pcr0)), Parent, "kms:Decrypt", "", "ExplicitDeny" },
        { "negated operator with the right value does not deny", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt", Cond("StringNotEqualsIgnoreCase", "kms:RecipientAttestation:PCR0", "AAAA")), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "negated operator with several values requires none to match", Allow("\"*\"", "kms:Decrypt", Cond("StringNotEquals", "kms:RecipientAttestation:PCR0", "bbbb", Pcr0)), Parent, "kms:Decrypt", "pcr0", "ImplicitDeny" },
        { "positive operator with several values needs one", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:RecipientAttestation:PCR0", "bbbb", Pcr0)), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "IfExists on a missing key holds (positive)", Allow("\"*\"", "kms:Decrypt", Cond("StringEqualsIfExists", "kms:RecipientAttestation:PCR0", "bbbb")), Parent, "kms:Decrypt", "", "Allow" },
        { "IfExists on a present key is checked", Allow("\"*\"", "kms:Decrypt", Cond("StringEqualsIfExists", "kms:RecipientAttestation:PCR0", "bbbb")), Parent, "kms:Decrypt", "pcr0", "ImplicitDeny" },
        { "IfExists on a missing key holds (negated)", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt", Cond("StringNotEqualsIgnoreCaseIfExists", "kms:RecipientAttestation:PCR0", Pcr0)), Parent, "kms:Decrypt", "", "ExplicitDeny" },
        { "StringLike with wildcards", Allow("\"*\"", "kms:Decrypt", Cond("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:role/Par*")), Parent, "kms:Decrypt", "", "Allow" },
        { "StringNotLike excludes", Allow("\"*\"", "kms:Decrypt", Cond("StringNotLike", "aws:PrincipalArn", "*:role/Par*")), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "StringNotLike on a missing key holds", Allow("\"*\"", "kms:Decrypt", Cond("StringNotLike", "kms:EncryptionContext:purpose", "t*")), Parent, "kms:Decrypt", "", "Allow" },
        { "encryption context key", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:EncryptionContext:purpose", "test")), Parent, "kms:Decrypt", "ctx", "Allow" },
        { "encryption context value is case-sensitive", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:EncryptionContext:purpose", "TEST")), Parent, "kms:Decrypt", "ctx", "ImplicitDeny" },
        { "kms:CallerAccount", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:CallerAccount", Account)), Parent, "kms:Decrypt", "", "Allow" },
        { "kms:ViaService is always absent", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:ViaService", "ec2.us-east-1.amazonaws.com")), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "Null true: key absent", Allow("\"*\"", "kms:Decrypt", Cond("Null", "kms:RecipientAttestation:PCR0", "true")), Parent, "kms:Decrypt", "", "Allow" },
        { "Null true: key present", Allow("\"*\"", "kms:Decrypt", Cond("Null", "kms:RecipientAttestation:PCR0", "true")), Parent, "kms:Decrypt", "pcr0", "ImplicitDeny" },
        { "Null false: key present", Allow("\"*\"", "kms:Decrypt", Cond("Null", "kms:RecipientAttestation:PCR0", "false")), Parent, "kms:Decrypt", "pcr0", "Allow" },
        { "Bool on a missing key fails", Allow("\"*\"", "kms:Decrypt", Cond("Bool", "kms:ViaService", "true")), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "BoolIfExists on a missing key holds", Allow("\"*\"", "kms:Decrypt", Cond("BoolIfExists", "kms:ViaService", "true")), Parent, "kms:Decrypt", "", "Allow" },
        { "several keys in one operator are all required", Allow("\"*\"", "kms:Decrypt", """{"StringEquals":{"kms:RecipientAttestation:PCR0":"aaaa","kms:EncryptionContext:purpose":"test"}}"""), Parent, "kms:Decrypt", "pcr0", "ImplicitDeny" },
        { "several operators are all required", Allow("\"*\"", "kms:Decrypt", """{"StringEquals":{"kms:RecipientAttestation:PCR0":"aaaa"},"StringLike":{"kms:EncryptionContext:purpose":"te*"}}"""), Parent, "kms:Decrypt", "pcr0,ctx", "Allow" },
        { "no statement applies: default deny", Allow("\"*\"", "kms:Encrypt"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Policy_evaluation(string name, string statements, string principal, string action, string facts, string expected)
    {
        var policy = KeyPolicy.Parse($$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""", Account);
        var context = new RequestContext(principal, Account, action, Key);
        if (facts.Contains("pcr0", StringComparison.Ordinal))
        {
            context.WithAttestation(new Dictionary<int, string> { [0] = Pcr0, [1] = "1111" });
        }

        if (facts.Contains("ctx", StringComparison.Ordinal))
        {
            context.WithEncryptionContext(new Dictionary<string, string> { ["purpose"] = "test" });
        }

        Assert.True(Enum.Parse<PolicyDecision>(expected) == policy.Evaluate(context), name);
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { """{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}]}""", "NotAction" },
        { """{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}""", "NotPrincipal" },
        { """{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]}""", "Service" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:CallerAccount":"1"}}}]}""", "ForAnyValue:StringEquals" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"kms:CallerAccount":"1"}}}]}""", "DateLessThan" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:GrantIsForAWSResource":"true"}}}]}""", "kms:GrantIsForAWSResource" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:RecipientAttestation:PCR32":"a"}}}]}""", "PCR32" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"${aws:username}"}}}]}""", "policy variable" },
        { """{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}""", "Effect" },
        { """{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}]}""", "wildcard" },
        { """{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}""", "Principal" },
        { """{"Version":"2099-01-01","Statement":[]}""", "Version" },
        { """{"Statement":[],"Extra":1}""", "Extra" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Unsupported_or_invalid_policies_are_rejected_naming_the_problem(string policy, string named)
    {
        var error = Assert.Throws<KmsException>(() => KeyPolicy.Parse(policy, Account));
        Assert.Equal(KmsErrorTypes.MalformedPolicyDocument, error.ErrorType);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    private static string Allow(string principal, string action, string? condition = null, string resource = "*") =>
        Statement("Allow", principal, action, condition, resource);

    private static string Deny(string action, string? condition = null) => Statement("Deny", "\"*\"", action, condition, "*");

    private static string Statement(string effect, string principal, string action, string? condition, string resource) =>
        $$"""{"Effect":"{{effect}}","Principal":{{principal}},"Action":"{{action}}","Resource":"{{resource}}"{{(condition is null ? "" : ",\"Condition\":" + condition)}}}""";

    private static string Cond(string op, string key, params string[] values) =>
        "{\"" + op + "\":{\"" + key + "\":[" + string.Join(',', values.Select(v => $"\"{v}\"")) + "]}}";
}
