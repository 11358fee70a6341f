using NitroEnclave.Allocator;
using NitroEnclave.Attestation;
using NitroEnclave.Eif;
using NitroEnclave.Enclave;
using NitroEnclave.KmsPolicy;
using NitroEnclave.Protocol;
using NitroEnclave.Tests.Attestation;

namespace NitroEnclave.Tests;

/// <summary>
/// The cmdlets' output types as text inside another object or a string: short, the identifying value whole.
/// tests/Pester/Views.Tests.ps1 checks the same through the cmdlets and the views.
/// </summary>
public sealed class OutputToStringTests
{
    private static readonly string Pcr0 = string.Concat(Enumerable.Repeat("0123456789abcdef", 6));

    private static DetectedObject Detected(string label, double score) =>
        new(label, 0, score, new BoundingBox(0.1, 0.2, 0.3, 0.4), new BoundingBox(12, 40, 212, 120.5));

    private static EnclaveDetectionResult Result(params DetectedObject[] objects) =>
        new("/data/photos/air-show.jpg.enc", new DetectResponse { Objects = objects, ImageWidth = 640, ImageHeight = 480, Model = "m", Timings = new Dictionary<string, double>() }, "tcp://127.0.0.1:5000", 1);

    [Fact]
    public void Measurements_read_as_PCR0_whole()
    {
        Assert.Equal("PCR0 " + Pcr0, new EnclaveMeasurements("a.eif", Pcr0, Pcr0, Pcr0, null, true).ToString());
    }

    [Fact]
    public void A_section_reads_as_index_type_size_and_offset()
    {
        Assert.Equal("2: Ramdisk, 700 bytes at 2585", new EnclaveImageSection(2, EifSectionType.Ramdisk, 2585, 700).ToString());
    }

    [Fact]
    public void A_detected_object_reads_as_label_score_and_pixel_box()
    {
        Assert.Equal("airplane 0.91 (12, 40)-(212, 120.5)", Detected("airplane", 0.9149).ToString());
    }

    [Fact]
    public void A_detection_result_reads_as_file_count_and_labels_in_the_order_found()
    {
        var result = Result(Detected("airplane", 0.9), Detected("person", 0.8), Detected("airplane", 0.7));

        Assert.Equal("air-show.jpg.enc: 3 objects (airplane x2, person x1)", result.ToString());
        Assert.Equal("air-show.jpg.enc: 1 object (person x1)", Result(Detected("person", 0.8)).ToString());
        Assert.Equal("air-show.jpg.enc: no objects", Result().ToString());
    }

    [Fact]
    public void An_enclave_reads_as_name_id_cid_state_and_debug_mode()
    {
        const string id = "i-0123456789abcdef0-enc0123456789abcdef";
        var debug = new EnclaveInfo("model", id, 4000, 16, 2, [1, 3], 512, "RUNNING", "DEBUG_MODE", null);
        var started = new EnclaveInfo(null, id, 4000, 17, 2, [1, 3], 512, null, null, null);

        Assert.Equal($"model {id} (CID 16, RUNNING, debug mode)", debug.ToString());
        Assert.Equal($"{id} (CID 17)", started.ToString());
        Assert.Equal($"model {id} terminated", new EnclaveTermination("model", id, terminated: true).ToString());
        Assert.Equal($"{id} not terminated", new EnclaveTermination(null, id, terminated: false).ToString());
    }

    [Fact]
    public void Allocator_settings_read_as_path_values_and_finding_count()
    {
        var finding = new AllocatorFinding("AllocatorCpuPoolPartialCore", "cpu_pool", AllocatorFindingSeverity.Error, "m");

        Assert.Equal("/etc/a.yaml: memory_mib 512, cpu_count 2, 0 findings", new AllocatorSettings("/etc/a.yaml", 512, 2, null, [], false, null).ToString());
        Assert.Equal("allocator.yaml: memory_mib unset, cpu_pool 1,5, 1 finding", new AllocatorSettings(null, null, null, "1,5", [finding], false, null).ToString());
    }

    [Fact]
    public void A_key_policy_reads_as_its_arn_and_the_measurements_it_conditions_on()
    {
        const string arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        var plain = new KmsEnclavePolicy("1234abcd", arn, "111122223333", """{"Version":"2012-10-17","Statement":[]}""");
        const string statement = """
            {"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/P"},
             "Action":"kms:Decrypt","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:PCR0":"VALUE"}}}]}
            """;
        var pinned = new KmsEnclavePolicy("1234abcd", arn, "111122223333", statement.Replace("VALUE", Pcr0, StringComparison.Ordinal));

        Assert.Equal($"{arn} (no attestation conditions)", plain.ToString());
        Assert.Equal($"{arn} (conditions on PCR0)", pinned.ToString());
        Assert.Equal($"Allow S: kms:RecipientAttestation:PCR0 StringEqualsIgnoreCase {Pcr0}", pinned.Conditions.Single().ToString());
    }

    [Fact]
    public void An_attestation_document_reads_as_module_id_and_time()
    {
        Assert.Equal("i-0340e0cb833504eb6-enc019c12d31f78864d at 2026-02-02 20:43:47Z", AttestationDocument.Parse(RealDocuments.Enclave).ToString());
        Assert.EndsWith(" (debug mode)", AttestationDocument.Parse(RealDocuments.Debug).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_fetched_attestation_reads_as_size_endpoint_and_time()
    {
        var fetched = new EnclaveAttestation(new byte[3493], new byte[32], "tcp://127.0.0.1:5000", new DateTimeOffset(2026, 2, 2, 20, 43, 47, TimeSpan.Zero));

        Assert.Equal("3493-byte attestation document from tcp://127.0.0.1:5000 at 2026-02-02 20:43:47Z", fetched.ToString());
    }
}
