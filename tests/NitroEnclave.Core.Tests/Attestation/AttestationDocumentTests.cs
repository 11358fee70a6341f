using NitroEnclave.Attestation;

namespace NitroEnclave.Tests.Attestation;

public sealed class AttestationDocumentTests
{
    [Fact]
    public void Explore()
    {
        foreach (var bytes in new[] { RealDocuments.Debug, RealDocuments.Enclave })
        {
            var d = AttestationDocument.Parse(bytes);
            var r = new AttestationVerifier().Verify(d, null, d.Timestamp);
            Console.WriteLine($"{d.ModuleId} {d.Timestamp:o} {d.IsIndefiniteLengthMap} pcrs={d.Pcrs.Count} bundle={d.CaBundle.Count} pk={d.PublicKey?.Length} ud={d.UserData?.Length} n={d.Nonce?.Length} {r}");
            foreach (var f in r.Failures) Console.WriteLine(f);
            foreach (var c in r.Chain) Console.WriteLine($"  {c.Subject} {c.NotBefore:u} {c.NotAfter:u}");
            foreach (var c in d.CaBundle.Append(d.Certificate)) Console.WriteLine("   " + string.Join(",", c.Extensions.Select(e => e.Oid!.FriendlyName + (e.Critical ? "!" : "") + (e is System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension b ? $"ca={b.CertificateAuthority} pl={b.HasPathLengthConstraint}:{b.PathLengthConstraint}" : "") + (e is System.Security.Cryptography.X509Certificates.X509KeyUsageExtension k ? k.KeyUsages.ToString() : ""))));
            Console.WriteLine(string.Join(" ", d.PcrHex.Select(p => p.Key + "=" + p.Value[..8])));
        }
    }
}
