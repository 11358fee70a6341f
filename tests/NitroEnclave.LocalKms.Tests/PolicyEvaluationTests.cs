using NitroEnclave.LocalKms.Policy;
using NitroEnclave.LocalKms.Protocol;

namespace NitroEnclave.LocalKms.Tests;

/// <summary>Key policy evaluation, case by case: one statement (or two) against one request context.</summary>
public sealed class PolicyEvaluationTests
{
    private const string Account = "111122223333";
    private const string Key = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";
    private const string Parent = "arn:aws:iam::111122223333:role/Parent";
    private const string Other = "arn:aws:iam::111122223333:role/Other";
    private const string Foreign = "arn:aws:iam::444455556666:role/Foreign";
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

        // Wildcards in principals and actions.
        { "AWS star in an array", Allow("""{"AWS":["*"]}""", "kms:Decrypt"), Foreign, "kms:Decrypt", "", "Allow" },
        { "star principal includes other accounts", Allow("\"*\"", "kms:*"), Foreign, "kms:Decrypt", "", "Allow" },
        { "kms:Describe* matches DescribeKey", Allow("\"*\"", "kms:Describe*"), Parent, "kms:DescribeKey", "", "Allow" },
        { "kms:Describe* does not match Decrypt", Allow("\"*\"", "kms:Describe*"), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "star action", Allow("\"*\"", "*"), Parent, "kms:Decrypt", "", "Allow" },

        // NotAction, NotPrincipal, NotResource: the statement applies to what the list does not match.
        { "NotAction allows every other action", Raw("Allow", """ "Principal":"*","NotAction":"kms:Decrypt","Resource":"*" """), Parent, "kms:Encrypt", "", "Allow" },
        { "NotAction does not allow the listed action", Raw("Allow", """ "Principal":"*","NotAction":"kms:Decrypt","Resource":"*" """), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "NotAction wildcard excludes the whole service", Raw("Allow", """ "Principal":"*","NotAction":"kms:*","Resource":"*" """), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "Deny with NotAction denies everything else", Allow("\"*\"", "kms:*") + "," + Raw("Deny", """ "Principal":"*","NotAction":["kms:Encrypt","kms:Describe*"],"Resource":"*" """), Parent, "kms:Decrypt", "", "ExplicitDeny" },
        { "Deny with NotAction spares the listed actions", Allow("\"*\"", "kms:*") + "," + Raw("Deny", """ "Principal":"*","NotAction":["kms:Encrypt","kms:Describe*"],"Resource":"*" """), Parent, "kms:DescribeKey", "", "Allow" },
        { "Deny with NotPrincipal spares the listed principal", Allow("\"*\"", "kms:*") + "," + Raw("Deny", $$""" "NotPrincipal":{"AWS":"{{Parent}}"},"Action":"kms:*","Resource":"*" """), Parent, "kms:Decrypt", "", "Allow" },
        { "Deny with NotPrincipal denies everyone else", Allow("\"*\"", "kms:*") + "," + Raw("Deny", $$""" "NotPrincipal":{"AWS":"{{Parent}}"},"Action":"kms:*","Resource":"*" """), Other, "kms:Decrypt", "", "ExplicitDeny" },
        { "NotPrincipal account excludes all its principals", Raw("Allow", """ "NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*" """), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "NotPrincipal account allows other accounts", Raw("Allow", """ "NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*" """), Foreign, "kms:Decrypt", "", "Allow" },
        { "NotPrincipal star applies to nobody", Raw("Allow", """ "NotPrincipal":"*","Action":"kms:*","Resource":"*" """), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "NotResource of another key covers this one", Raw("Allow", """ "Principal":"*","Action":"kms:*","NotResource":"arn:aws:kms:us-east-1:111122223333:key/other" """), Parent, "kms:Decrypt", "", "Allow" },
        { "NotResource of this key excludes it", Raw("Allow", $$""" "Principal":"*","Action":"kms:*","NotResource":["{{Key}}"] """), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "Deny with a NotResource wildcard spares the keys it matches", Allow("\"*\"", "kms:*") + "," + Raw("Deny", """ "Principal":"*","Action":"kms:*","NotResource":"arn:aws:kms:*:111122223333:key/*" """), Parent, "kms:Decrypt", "", "Allow" },

        // Set operators over the multi-valued kms:EncryptionContextKeys ("ctx": purpose; "ctx2": purpose and team).
        { "ForAnyValue: one context key listed", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "purpose", "x")), Parent, "kms:Decrypt", "ctx", "Allow" },
        { "ForAnyValue: no context fails", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "purpose")), Parent, "kms:Decrypt", "", "ImplicitDeny" },
        { "ForAnyValue: no context with IfExists holds", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringEqualsIfExists", "kms:EncryptionContextKeys", "purpose")), Parent, "kms:Decrypt", "", "Allow" },
        { "ForAnyValue: StringLike on any key", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringLike", "kms:EncryptionContextKeys", "te*")), Parent, "kms:Decrypt", "ctx2", "Allow" },
        { "ForAnyValue: StringNotEquals needs a key outside the list", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", "purpose")), Parent, "kms:Decrypt", "ctx", "ImplicitDeny" },
        { "ForAnyValue: StringNotEquals with one key outside", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", "purpose")), Parent, "kms:Decrypt", "ctx2", "Allow" },
        { "ForAnyValue on a single-valued key", Allow("\"*\"", "kms:Decrypt", Cond("ForAnyValue:StringEquals", "aws:PrincipalArn", Other, Parent)), Parent, "kms:Decrypt", "", "Allow" },
        { "ForAllValues: every context key listed", Allow("\"*\"", "kms:Decrypt", Cond("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "purpose", "team")), Parent, "kms:Decrypt", "ctx2", "Allow" },
        { "ForAllValues: a key outside the list fails", Allow("\"*\"", "kms:Decrypt", Cond("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "purpose")), Parent, "kms:Decrypt", "ctx2", "ImplicitDeny" },
        { "ForAllValues: no context holds", Allow("\"*\"", "kms:Decrypt", Cond("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "purpose")), Parent, "kms:Decrypt", "", "Allow" },
        { "ForAllValues: StringNotEquals with no listed key", Allow("\"*\"", "kms:Decrypt", Cond("ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", "secret")), Parent, "kms:Decrypt", "ctx2", "Allow" },
        { "ForAllValues: StringNotEquals with a listed key fails", Allow("\"*\"", "kms:Decrypt", Cond("ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", "team")), Parent, "kms:Decrypt", "ctx2", "ImplicitDeny" },
        { "ForAllValues: case-insensitive operator", Allow("\"*\"", "kms:Decrypt", Cond("ForAllValues:StringEqualsIgnoreCase", "kms:EncryptionContextKeys", "PURPOSE", "Team")), Parent, "kms:Decrypt", "ctx2", "Allow" },
        { "a multi-valued key without a set operator: any value", Allow("\"*\"", "kms:Decrypt", Cond("StringEquals", "kms:EncryptionContextKeys", "team")), Parent, "kms:Decrypt", "ctx2", "Allow" },
        { "a multi-valued key without a set operator, negated: no value", Allow("\"*\"", "kms:Decrypt", Cond("StringNotEquals", "kms:EncryptionContextKeys", "team")), Parent, "kms:Decrypt", "ctx2", "ImplicitDeny" },
        { "explicit deny with ForAnyValue wins", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt", Cond("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "team")), Parent, "kms:Decrypt", "ctx2", "ExplicitDeny" },
        { "deny with ForAnyValue does not apply", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt", Cond("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "team")), Parent, "kms:Decrypt", "ctx", "Allow" },
        { "deny with ForAllValues on no context applies", Allow("\"*\"", "kms:*") + "," + Deny("kms:Decrypt", Cond("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "team")), Parent, "kms:Decrypt", "", "ExplicitDeny" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Policy_evaluation(string name, string statements, string principal, string action, string facts, string expected)
    {
        var policy = KeyPolicy.Parse($$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""", Account);
        var context = new RequestContext(principal, principal.Split(':')[4], action, Key);
        if (facts.Contains("pcr0", StringComparison.Ordinal))
        {
            context.WithAttestation(new Dictionary<int, string> { [0] = Pcr0, [1] = "1111" });
        }

        if (facts.Contains("ctx2", StringComparison.Ordinal))
        {
            context.WithEncryptionContext(new Dictionary<string, string> { ["purpose"] = "test", ["team"] = "a" });
        }
        else if (facts.Contains("ctx", StringComparison.Ordinal))
        {
            context.WithEncryptionContext(new Dictionary<string, string> { ["purpose"] = "test" });
        }

        Assert.True(Enum.Parse<PolicyDecision>(expected) == policy.Evaluate(context), name);
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}]}""", "both Action and NotAction" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}""", "both Principal and NotPrincipal" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","NotResource":"*"}]}""", "both Resource and NotResource" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}""", "no Action or NotAction" },
        { """{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":[]},"Action":"kms:*","Resource":"*"}]}""", "NotPrincipal" },
        { """{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/*"},"Action":"kms:*","Resource":"*"}]}""", "wildcard" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"Decrypt","Resource":"*"}]}""", "'Decrypt'" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:Null":{"kms:CallerAccount":"true"}}}]}""", "ForAnyValue:Null" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:":{"kms:CallerAccount":"1"}}}]}""", "ForAllValues:" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:ForAllValues:StringEquals":{"kms:CallerAccount":"1"}}}]}""", "ForAnyValue:ForAllValues:StringEquals" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:NumericLessThan":{"kms:CallerAccount":"1"}}}]}""", "ForAnyValue:NumericLessThan" },
        { """{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]}""", "Service" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"kms:CallerAccount":"1"}}}]}""", "DateLessThan" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:GrantIsForAWSResource":"true"}}}]}""", "kms:GrantIsForAWSResource" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:RecipientAttestation:PCR32":"a"}}}]}""", "PCR32" },
        { """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"${aws:username}"}}}]}""", "policy variable" },
        { """{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}""", "Effect" },
        { """{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}]}""", "wildcard" },
        { """{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}""", "no Principal or NotPrincipal" },
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

    /// <summary>A statement written out: the effect, then the rest of its members as JSON.</summary>
    private static string Raw(string effect, string members) => $$"""{"Effect":"{{effect}}",{{members.Trim()}}}""";

    private static string Cond(string op, string key, params string[] values) =>
        "{\"" + op + "\":{\"" + key + "\":[" + string.Join(',', values.Select(v => $"\"{v}\"")) + "]}}";
}
