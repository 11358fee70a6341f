using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NitroEnclave.Attestation;

namespace NitroEnclave.Tests.Attestation;

public sealed class AttestationVerifierTests
{
    private static readonly AttestationVerifier Aws = new();

    public static TheoryData<string> RealDocumentNames() => new() { "debug", "enclave" };

    private static byte[] Real(string name) => name == "debug" ? RealDocuments.Debug : RealDocuments.Enclave;

    [Theory]
    [MemberData(nameof(RealDocumentNames))]
    public void A_real_document_verifies_against_the_aws_root_at_its_own_timestamp(string name)
    {
        var document = AttestationDocument.Parse(Real(name));

        var result = Aws.Verify(document, null, document.Timestamp);

        Assert.True(result.IsValid, string.Join("; ", result.Failures));
        Assert.Empty(result.FailedRules);
        Assert.Equal(document.ModuleId, result.ModuleId);
        Assert.Equal(document.Timestamp, result.Timestamp);
        Assert.Equal(document.Timestamp, result.VerifiedAt);
        Assert.Equal(16, result.Pcrs.Count);
        Assert.Equal(5, result.Chain.Count);
        Assert.Equal(AwsNitroRoot.Sha256Fingerprint, result.Chain[^1].Sha256Fingerprint);
        Assert.Contains(document.ModuleId, result.Certificate.Subject, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(RealDocumentNames))]
    public void A_real_document_fails_today_because_its_leaf_has_expired(string name)
    {
        var result = Aws.Verify(AttestationDocument.Parse(Real(name)));

        Assert.False(result.IsValid);
        Assert.Contains(AttestationRules.CertificateExpired, result.FailedRules);
        Assert.DoesNotContain(AttestationRules.SignatureInvalid, result.FailedRules);
        Assert.DoesNotContain(AttestationRules.ChainUntrusted, result.FailedRules);
    }

    [Fact]
    public void A_real_document_checked_before_its_leaf_was_issued_is_not_yet_valid()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);

        var result = Aws.Verify(document, null, document.Timestamp.AddHours(-1));

        Assert.Contains(AttestationRules.CertificateNotYetValid, result.FailedRules);
    }

    [Fact]
    public void A_real_document_is_untrusted_when_only_another_root_is_trusted()
    {
        using var other = new TestAttestationBuilder();
        var document = AttestationDocument.Parse(RealDocuments.Enclave);

        var result = new AttestationVerifier([other.Root]).Verify(document, null, document.Timestamp);

        Assert.Equal([AttestationRules.ChainUntrusted], result.FailedRules);
    }

    [Fact]
    public void Flipping_any_byte_of_the_signature_fails()
    {
        var original = RealDocuments.Enclave;
        var document = AttestationDocument.Parse(original);
        var signatureOffset = original.Length - document.Signature.Length;

        for (var i = 0; i < document.Signature.Length; i++)
        {
            var tampered = (byte[])original.Clone();
            tampered[signatureOffset + i] ^= 0x01;
            var result = Aws.Verify(AttestationDocument.Parse(tampered), null, document.Timestamp);
            Assert.Equal([AttestationRules.SignatureInvalid], result.FailedRules);
        }
    }

    [Fact]
    public void Flipping_a_byte_anywhere_in_the_payload_fails()
    {
        var original = RealDocuments.Debug;
        var document = AttestationDocument.Parse(original);
        var payloadOffset = original.AsSpan().IndexOf(document.Payload);
        var random = new Random(3);
        var positions = Enumerable.Range(0, 300).Select(_ => random.Next(document.Payload.Length))
            .Concat(Enumerable.Range(0, 64)) // the header, module id, digest and timestamp
            .Distinct();

        foreach (var position in positions)
        {
            var tampered = (byte[])original.Clone();
            tampered[payloadOffset + position] ^= (byte)(1 << random.Next(8));
            AttestationDocument parsed;
            try
            {
                parsed = AttestationDocument.Parse(tampered);
            }
            catch (NitroEnclaveException ex)
            {
                Assert.Equal(AttestationErrors.Malformed, ex.ErrorId);
                continue;
            }

            var result = Aws.Verify(parsed, null, document.Timestamp);
            Assert.False(result.IsValid, $"flipping payload byte {position} went unnoticed");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Removing_a_certificate_from_the_bundle_breaks_the_chain(int removed)
    {
        using var builder = new TestAttestationBuilder();
        var bundle = builder.CaBundle();
        bundle.RemoveAt(removed == 3 ? bundle.Count - 1 : Math.Min(removed, bundle.Count - 1));

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(bundle), null, builder.Timestamp);

        Assert.False(result.IsValid);
        Assert.True(result.Failed(AttestationRules.ChainBroken) || result.Failed(AttestationRules.ChainUntrusted), string.Join("; ", result.Failures));
    }

    [Fact]
    public void Removing_an_intermediate_from_a_real_bundle_breaks_the_chain()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);
        using var builder = new TestAttestationBuilder();

        for (var removed = 0; removed < document.CaBundle.Count; removed++)
        {
            var bundle = document.CaBundle.Where((_, i) => i != removed).Select(c => c.RawData).ToList();
            var rebuilt = AttestationDocumentTests.RewriteMap(document.Payload, (key, reader, writer) =>
            {
                writer.WriteTextString(key);
                if (key == "cabundle")
                {
                    reader.SkipValue();
                    writer.WriteStartArray(bundle.Count);
                    bundle.ForEach(writer.WriteByteString);
                    writer.WriteEndArray();
                }
                else
                {
                    writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
                }
            });

            // Re-signing is impossible without AWS's key, so the signature fails too; the chain must fail on its own.
            var result = Aws.Verify(AttestationDocument.Parse(builder.Sign(rebuilt)), null, document.Timestamp);
            Assert.True(result.Failed(AttestationRules.ChainBroken) || result.Failed(AttestationRules.ChainUntrusted), $"removing cabundle[{removed}]");
        }
    }

    [Fact]
    public void Swapping_two_intermediates_breaks_the_chain()
    {
        using var builder = new TestAttestationBuilder();
        var bundle = builder.CaBundle();
        (bundle[1], bundle[2]) = (bundle[2], bundle[1]);

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(bundle), null, builder.Timestamp);

        Assert.Contains(AttestationRules.ChainBroken, result.FailedRules);
    }

    [Fact]
    public void Swapping_in_an_intermediate_from_another_chain_breaks_the_chain()
    {
        using var builder = new TestAttestationBuilder();
        using var stranger = new TestAttestationBuilder { ModuleId = "i-stranger" };
        var bundle = builder.CaBundle();
        bundle[1] = stranger.CaBundle()[1];

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(bundle), null, builder.Timestamp);

        Assert.Contains(AttestationRules.ChainBroken, result.FailedRules);
    }

    [Fact]
    public void A_bundle_must_start_with_a_trusted_root_even_when_its_top_was_issued_by_one()
    {
        using var builder = new TestAttestationBuilder();
        var bundle = builder.CaBundle()[1..];

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(bundle), null, builder.Timestamp);

        Assert.Contains(AttestationRules.ChainUntrusted, result.FailedRules);
    }

    [Fact]
    public void The_leaf_must_be_valid_at_the_documents_timestamp()
    {
        using var builder = new TestAttestationBuilder();
        builder.Timestamp = builder.IssuedAt + TimeSpan.FromHours(4);

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.IssuedAt + TimeSpan.FromHours(4));

        Assert.Contains(AttestationRules.CertificateInvalidAtTimestamp, result.FailedRules);
        Assert.Contains(AttestationRules.CertificateExpired, result.FailedRules);
    }

    [Fact]
    public void A_timestamp_after_the_verification_time_is_rejected()
    {
        using var builder = new TestAttestationBuilder { IssuedAt = TestAttestationBuilder.DefaultTime.AddHours(-1) };
        var verifier = new AttestationVerifier([builder.Root]);

        var result = verifier.Verify(builder.Build(), null, builder.Timestamp - TimeSpan.FromMinutes(6));
        var withinSkew = verifier.Verify(builder.Build(), null, builder.Timestamp - TimeSpan.FromMinutes(4));

        Assert.Equal([AttestationRules.TimestampInFuture], result.FailedRules);
        Assert.True(withinSkew.IsValid);
    }

    [Fact]
    public void A_root_with_pathLen_zero_cannot_have_intermediates_below_it()
    {
        using var builder = new TestAttestationBuilder { RootPathLength = 0 };

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([AttestationRules.PathLengthExceeded], result.FailedRules);
    }

    [Fact]
    public void A_leaf_that_is_a_CA_is_rejected()
    {
        using var builder = new TestAttestationBuilder { LeafIsAuthority = true };

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([AttestationRules.BasicConstraintsInvalid], result.FailedRules);
    }

    [Fact]
    public void Intermediates_that_are_not_CAs_are_rejected()
    {
        using var builder = new TestAttestationBuilder { IntermediatesAreAuthorities = false };

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([AttestationRules.BasicConstraintsInvalid], result.FailedRules);
        Assert.Equal(2, result.Failures.Count);
    }

    [Fact]
    public void Authorities_without_keyCertSign_are_rejected()
    {
        using var builder = new TestAttestationBuilder { AuthorityKeyUsage = X509KeyUsageFlags.DigitalSignature };

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([AttestationRules.KeyUsageInvalid], result.FailedRules);
    }

    [Theory]
    [InlineData("1.3.6.1.4.1.55555.1")]
    [InlineData("2.5.29.30")] // nameConstraints: a standard extension, but one this verifier does not process
    public void A_critical_extension_the_verifier_does_not_process_is_rejected(string oid)
    {
        using var builder = new TestAttestationBuilder();
        builder.IntermediateExtensions.Add(new X509Extension(oid, [0x30, 0x00], critical: true));

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([AttestationRules.CriticalExtensionUnknown], result.FailedRules);
        Assert.Equal(builder.Intermediates, result.Failures.Count);
        Assert.Contains(oid, result.Failures[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_extension_not_marked_critical_is_ignored()
    {
        using var builder = new TestAttestationBuilder();
        builder.IntermediateExtensions.Add(new X509Extension("1.3.6.1.4.1.55555.1", [0x30, 0x00], critical: false));

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.True(result.IsValid, string.Join("; ", result.Failures));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_real_leaf_given_an_unknown_critical_extension_is_rejected_for_it(bool critical)
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);
        var leaf = document.Certificate;
        using var key = leaf.GetECDsaPublicKey()!;
        var request = new CertificateRequest(leaf.SubjectName, key, HashAlgorithmName.SHA384);
        foreach (var extension in leaf.Extensions)
        {
            request.CertificateExtensions.Add(extension);
        }

        request.CertificateExtensions.Add(new X509Extension("1.3.6.1.4.1.55555.1", [0x05, 0x00], critical));
        // AWS's key cannot be had, so the rebuilt leaf is signed by another one: the chain and the signature fail too.
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var rebuilt = request.Create(leaf.IssuerName, X509SignatureGenerator.CreateForECDsa(forger), leaf.NotBefore, leaf.NotAfter, leaf.GetSerialNumber().Reverse().ToArray());
        var payload = AttestationDocumentTests.RewriteMap(document.Payload, (name, reader, writer) =>
        {
            writer.WriteTextString(name);
            if (name == "certificate")
            {
                reader.SkipValue();
                writer.WriteByteString(rebuilt.RawData);
            }
            else
            {
                writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
            }
        });
        using var builder = new TestAttestationBuilder();

        var result = Aws.Verify(AttestationDocument.Parse(builder.Sign(payload)), null, document.Timestamp);

        Assert.Contains(AttestationRules.ChainBroken, result.FailedRules);
        Assert.Equal(critical, result.Failed(AttestationRules.CriticalExtensionUnknown));
    }

    public static TheoryData<string, Action<TestAttestationBuilder>> FieldRuleBreaks() => new()
    {
        { AttestationRules.DigestUnsupported, b => b.Digest = "SHA256" },
        { AttestationRules.ModuleIdMissing, b => b.ModuleId = string.Empty },
        { AttestationRules.PcrCountInvalid, b => b.Pcrs.Clear() },
        { AttestationRules.PcrIndexInvalid, b => b.Pcrs[40] = new byte[48] },
        { AttestationRules.PcrLengthInvalid, b => b.Pcrs[3] = new byte[20] },
        { AttestationRules.PublicKeyInvalid, b => b.PublicKey = [] },
        { AttestationRules.PublicKeyInvalid, b => b.PublicKey = new byte[1025] },
        { AttestationRules.UserDataInvalid, b => b.UserData = new byte[513] },
        { AttestationRules.NonceInvalid, b => b.Nonce = new byte[513] },
    };

    [Theory]
    [MemberData(nameof(FieldRuleBreaks))]
    public void Each_field_rule_is_enforced_and_named(string rule, Action<TestAttestationBuilder> breakRule)
    {
        using var builder = new TestAttestationBuilder();
        breakRule(builder);

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([rule], result.FailedRules);
        Assert.All(result.Failures, f => Assert.False(string.IsNullOrWhiteSpace(f.Reason)));
    }

    [Fact]
    public void More_than_32_pcrs_is_too_many()
    {
        using var builder = new TestAttestationBuilder();
        Enumerable.Range(16, 17).ToList().ForEach(i => builder.Pcrs[i] = new byte[48]);

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.Equal([AttestationRules.PcrCountInvalid, AttestationRules.PcrIndexInvalid], result.FailedRules);
    }

    [Fact]
    public void Sizes_at_the_limits_are_accepted()
    {
        using var builder = new TestAttestationBuilder { PublicKey = new byte[1024], UserData = new byte[512], Nonce = new byte[512] };
        builder.Pcrs[3] = new byte[32];
        builder.Pcrs[4] = new byte[64];

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), null, builder.Timestamp);

        Assert.True(result.IsValid, string.Join("; ", result.Failures));
    }

    [Fact]
    public void Another_algorithm_in_the_protected_header_is_rejected()
    {
        using var builder = new TestAttestationBuilder();

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Sign(builder.Payload(builder.CaBundle()), algorithm: -36), null, builder.Timestamp);

        Assert.Equal([AttestationRules.AlgorithmUnsupported], result.FailedRules);
    }

    [Fact]
    public void Expected_pcrs_match_in_either_case_and_mismatches_are_named()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);
        var matching = new AttestationExpectations()
            .ExpectPcr(0, document.GetPcrHex(0)!.ToUpperInvariant())
            .ExpectPcr(4, document.GetPcrHex(4)!);
        var wrong = new AttestationExpectations().ExpectPcr(0, new string('a', 96)).ExpectPcr(2, document.GetPcrHex(2)!);

        var good = Aws.Verify(document, matching, document.Timestamp);
        var bad = Aws.Verify(document, wrong, document.Timestamp);

        Assert.True(good.IsValid, string.Join("; ", good.Failures));
        Assert.Equal([AttestationRules.PcrMismatch], bad.FailedRules);
        var failure = Assert.Single(bad.Failures);
        Assert.Contains("PCR 0", failure.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_expected_pcr_the_document_lacks_is_a_mismatch()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);

        var result = Aws.Verify(document, new AttestationExpectations().ExpectPcr(20, new byte[48]), document.Timestamp);

        Assert.Equal([AttestationRules.PcrMismatch], result.FailedRules);
    }

    [Fact]
    public void Nonce_user_data_and_public_key_are_compared_when_expected()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);
        var same = new AttestationExpectations { Nonce = document.Nonce, UserData = document.UserData, PublicKey = document.PublicKey };
        var different = new AttestationExpectations { Nonce = new byte[20], UserData = new byte[1], PublicKey = new byte[5] };

        Assert.True(Aws.Verify(document, same, document.Timestamp).IsValid);
        Assert.Equal(
            [AttestationRules.NonceMismatch, AttestationRules.UserDataMismatch, AttestationRules.PublicKeyMismatch],
            Aws.Verify(document, different, document.Timestamp).FailedRules);
    }

    [Fact]
    public void An_expected_nonce_must_be_present()
    {
        using var builder = new TestAttestationBuilder();

        var result = new AttestationVerifier([builder.Root]).Verify(builder.Build(), new AttestationExpectations { Nonce = new byte[] { 1 } }, builder.Timestamp);

        Assert.Equal([AttestationRules.NonceMismatch], result.FailedRules);
    }

    [Fact]
    public void MaxAge_rejects_documents_older_than_allowed()
    {
        var document = AttestationDocument.Parse(RealDocuments.Enclave);
        var expectations = new AttestationExpectations { MaxAge = TimeSpan.FromMinutes(5) };

        Assert.True(Aws.Verify(document, expectations, document.Timestamp.AddMinutes(4)).IsValid);
        Assert.Equal([AttestationRules.DocumentTooOld], Aws.Verify(document, expectations, document.Timestamp.AddMinutes(6)).FailedRules);
    }

    [Theory]
    [InlineData(32, "00")]
    [InlineData(-1, "00")]
    [InlineData(0, "xyz")]
    [InlineData(0, "abc")]
    [InlineData(0, "0011")]
    public void Invalid_expectations_are_typed_errors(int index, string hex)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => new AttestationExpectations().ExpectPcr(index, hex.Length == 2 ? new string('0', 96) : hex));

        Assert.Equal(AttestationErrors.ExpectationInvalid, error.ErrorId);
    }

    [Fact]
    public void Trusted_roots_are_read_from_pem_and_must_be_present()
    {
        var roots = AttestationVerifier.ReadPemCertificates(File.ReadAllText(RealDocuments.AwsRootPemPath));

        Assert.Equal(AwsNitroRoot.Certificate().RawData, Assert.Single(roots).RawData);
        Assert.Equal(AttestationErrors.TrustedRootInvalid, Assert.Throws<NitroEnclaveException>(() => AttestationVerifier.ReadPemCertificates("no pem here")).ErrorId);
        Assert.Equal(AttestationErrors.TrustedRootInvalid, Assert.Throws<NitroEnclaveException>(() => new AttestationVerifier([])).ErrorId);
    }
}
