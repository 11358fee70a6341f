using System.Diagnostics;
using System.Text.Json;
using NitroEnclave.Protocol;
using YamlDotNet.RepresentationModel;

namespace NitroEnclave.Tests.Deployment;

/// <summary>
/// deploy/kubernetes: the manifests parse, ask for the device plugin's resource and hugepages the way Kubernetes
/// requires, and agree with the enclave server's command line (the vsock port it listens on, the KMS proxy port).
/// </summary>
public sealed class KubernetesManifestTests
{
    private const string DevicePluginResource = "aws.ec2.nitro/nitro_enclaves";
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "deploy");

    [Fact]
    public void Every_manifest_document_parses_and_names_its_kind()
    {
        var documents = Manifests().ToList();
        Assert.Equal(["DaemonSet", "Namespace", "NetworkPolicy", "Service"], documents.Select(d => Text(d, "kind")).Order(StringComparer.Ordinal));
        Assert.All(documents, d => Assert.False(string.IsNullOrEmpty(Text(d, "metadata", "name"))));
        Assert.All(documents.Where(d => Text(d, "kind") != "Namespace"), d => Assert.Equal("nitroenclave", Text(d, "metadata", "namespace")));
    }

    [Fact]
    public void The_detector_pod_asks_for_the_device_plugin_resource_and_enough_hugepages()
    {
        var pod = Single("DaemonSet")["spec"]["template"]["spec"];
        Assert.Equal("enabled", Text(pod, "nodeSelector", "aws-nitro-enclaves-k8s-dp"));
        var container = (YamlMappingNode)((YamlSequenceNode)pod["containers"]).Single();
        var requests = (YamlMappingNode)container["resources"]["requests"];
        var limits = (YamlMappingNode)container["resources"]["limits"];
        Assert.Equal("1", Text(requests, DevicePluginResource));
        Assert.Equal("1", Text(limits, DevicePluginResource));

        // Kubernetes refuses hugepage requests that differ from their limits; the enclave's memory comes from them.
        Assert.Equal(Text(requests, "hugepages-2Mi"), Text(limits, "hugepages-2Mi"));
        Assert.True(MebiBytes(Text(limits, "hugepages-2Mi")) >= int.Parse(Environment(container)["ENCLAVE_MEMORY_MIB"], System.Globalization.CultureInfo.InvariantCulture));
        var volume = ((YamlSequenceNode)pod["volumes"]).Cast<YamlMappingNode>().Single(v => v.Children.TryGetValue("emptyDir", out var emptyDir)
            && ((YamlMappingNode)emptyDir).Children.ContainsKey("medium") && Text(v, "emptyDir", "medium") == "HugePages-2Mi");
        Assert.Contains(((YamlSequenceNode)container["volumeMounts"]).Cast<YamlMappingNode>(), m => Text(m, "name") == Text(volume, "name"));
    }

    [Fact]
    public void The_ports_match_the_enclave_server_command_line()
    {
        var server = ServerCommandLine();
        Assert.Equal("serve", server[1]);
        Assert.Equal($"vsock://:{EnclaveProtocol.DefaultPort}", Option(server, "--listen"));
        Assert.Equal("device", Option(server, "--nsm"));

        var container = (YamlMappingNode)((YamlSequenceNode)Single("DaemonSet")["spec"]["template"]["spec"]["containers"]).Single();
        var environment = Environment(container);
        Assert.Equal(EnclaveProtocol.DefaultPort.ToString(System.Globalization.CultureInfo.InvariantCulture), environment["ENCLAVE_PORT"]);
        Assert.Equal(Option(server, "--kms-proxy-port"), environment["KMS_PROXY_PORT"]);

        var port = ((YamlSequenceNode)container["ports"]).Cast<YamlMappingNode>().Single();
        Assert.Equal(environment["ENCLAVE_PORT"], Text(port, "containerPort"));
        var service = (YamlMappingNode)((YamlSequenceNode)Single("Service")["spec"]["ports"]).Single();
        Assert.Equal(Text(port, "name"), Text(service, "targetPort"));
        Assert.Equal("None", Text(Single("Service"), "spec", "clusterIP"));
    }

    [Fact]
    public void The_service_and_policy_select_the_detector_pods()
    {
        var labels = (YamlMappingNode)Single("DaemonSet")["spec"]["template"]["metadata"]["labels"];
        foreach (var selector in new[] { (YamlMappingNode)Single("Service")["spec"]["selector"], (YamlMappingNode)Single("NetworkPolicy")["spec"]["podSelector"]["matchLabels"] })
        {
            Assert.All(selector.Children, pair => Assert.Equal(pair.Value.ToString(), labels[pair.Key].ToString()));
        }
    }

    [Fact]
    public void The_pod_script_starts_the_enclave_proxy_and_bridge_from_the_pod_settings()
    {
        var script = File.ReadAllText(Path.Combine(Folder, "pod", "run.sh"));
        Assert.Contains("nitro-cli run-enclave --eif-path \"$ENCLAVE_IMAGE\" --memory \"$ENCLAVE_MEMORY_MIB\" --cpu-count \"$ENCLAVE_CPU_COUNT\"", script, StringComparison.Ordinal);
        Assert.Contains("""vsock-proxy "$KMS_PROXY_PORT" "$kms_host" 443""", script, StringComparison.Ordinal);
        Assert.Contains("""VSOCK-CONNECT:${enclave_cid}:${ENCLAVE_PORT}""", script, StringComparison.Ordinal);
        Assert.Contains("nitro-cli terminate-enclave", script, StringComparison.Ordinal);

        var container = (YamlMappingNode)((YamlSequenceNode)Single("DaemonSet")["spec"]["template"]["spec"]["containers"]).Single();
        foreach (var name in new[] { "ENCLAVE_IMAGE", "ENCLAVE_MEMORY_MIB", "ENCLAVE_CPU_COUNT", "ENCLAVE_PORT", "KMS_PROXY_PORT", "AWS_REGION" })
        {
            Assert.True(Environment(container).ContainsKey(name), $"the pod sets {name}");
        }

        using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", Path.Combine(Folder, "pod", "run.sh")]) { RedirectStandardError = true })!;
        var errors = bash.StandardError.ReadToEnd();
        bash.WaitForExit();
        Assert.True(bash.ExitCode == 0, errors);
    }

    private static IEnumerable<YamlMappingNode> Manifests()
    {
        foreach (var file in Directory.EnumerateFiles(Folder, "*.yaml"))
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(file))
            {
                stream.Load(reader);
            }

            foreach (var document in stream.Documents)
            {
                yield return (YamlMappingNode)document.RootNode;
            }
        }
    }

    private static YamlMappingNode Single(string kind) => Manifests().Single(d => Text(d, "kind") == kind);

    private static string Text(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            node = ((YamlMappingNode)node)[key];
        }

        return ((YamlScalarNode)node).Value ?? string.Empty;
    }

    private static Dictionary<string, string> Environment(YamlMappingNode container) =>
        ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().ToDictionary(e => Text(e, "name"), e => Text(e, "value"));

    private static int MebiBytes(string quantity) =>
        quantity.EndsWith("Gi", StringComparison.Ordinal) ? int.Parse(quantity[..^2], System.Globalization.CultureInfo.InvariantCulture) * 1024
        : quantity.EndsWith("Mi", StringComparison.Ordinal) ? int.Parse(quantity[..^2], System.Globalization.CultureInfo.InvariantCulture)
        : throw new FormatException($"unexpected quantity '{quantity}'");

    /// <summary>The server's command line as the enclave image runs it (enclave/Dockerfile's ENTRYPOINT).</summary>
    private static string[] ServerCommandLine()
    {
        var entrypoint = File.ReadLines(Path.Combine(Folder, "Dockerfile")).Single(l => l.StartsWith("ENTRYPOINT ", StringComparison.Ordinal));
        return JsonSerializer.Deserialize<string[]>(entrypoint["ENTRYPOINT ".Length..])!;
    }

    private static string Option(string[] line, string name) => line[Array.IndexOf(line, name) + 1];
}
