using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace NitroEnclave.ModelConverter;

/// <summary>One node of a TensorFlow GraphDef as TensorFlow.js stores it in model.json.</summary>
internal sealed class TfNode(string name, string op, string[] inputs, JsonElement attributes)
{
    public string Name { get; } = name;

    public string Op { get; } = op;

    /// <summary>Data inputs as "node" or "node:index"; control dependencies ("^node") are dropped.</summary>
    public string[] Inputs { get; } = inputs;

    public string String(string attribute) => DecodeString(Attribute(attribute).GetProperty("s"));

    public string? OptionalString(string attribute) => TryAttribute(attribute, out _) ? String(attribute) : null;

    public int Int(string attribute, int fallback = 0) =>
        TryAttribute(attribute, out var value) && value.TryGetProperty("i", out var i) ? int.Parse(i.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public float Float(string attribute, float fallback) =>
        TryAttribute(attribute, out var value) && value.TryGetProperty("f", out var f) ? f.GetSingle() : fallback;

    public bool Bool(string attribute) =>
        TryAttribute(attribute, out var value) && value.TryGetProperty("b", out var b) && b.GetBoolean();

    public int[] Ints(string attribute) =>
        TryAttribute(attribute, out var value) && value.GetProperty("list").TryGetProperty("i", out var list)
            ? list.EnumerateArray().Select(i => int.Parse(i.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
            : [];

    public string[] Strings(string attribute) =>
        TryAttribute(attribute, out var value) && value.GetProperty("list").TryGetProperty("s", out var list)
            ? list.EnumerateArray().Select(DecodeString).ToArray()
            : [];

    /// <summary>GraphDef strings arrive base64-encoded from the converter's JSON, or as byte arrays in older models.</summary>
    private static string DecodeString(JsonElement value) => value.ValueKind == JsonValueKind.Array
        ? Encoding.UTF8.GetString(value.EnumerateArray().Select(b => b.GetByte()).ToArray())
        : Encoding.UTF8.GetString(Convert.FromBase64String(value.GetString()!));

    private JsonElement Attribute(string attribute) =>
        TryAttribute(attribute, out var value) ? value : throw new ConversionException($"node {Name} ({Op}) has no attribute {attribute}");

    private bool TryAttribute(string attribute, out JsonElement value)
    {
        value = default;
        return attributes.ValueKind == JsonValueKind.Object && attributes.TryGetProperty(attribute, out value);
    }
}

/// <summary>A TensorFlow.js graph model: model.json's node list plus the weights of its shards.</summary>
internal sealed class TfGraphModel
{
    private TfGraphModel(Dictionary<string, TfNode> nodes, Dictionary<string, ConstTensor> weights)
    {
        Nodes = nodes;
        Weights = weights;
    }

    public IReadOnlyDictionary<string, TfNode> Nodes { get; }

    public IReadOnlyDictionary<string, ConstTensor> Weights { get; }

    public static TfGraphModel Load(string modelJsonPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(modelJsonPath))!;
        using var document = JsonDocument.Parse(File.ReadAllBytes(modelJsonPath));
        var root = document.RootElement;
        var nodes = new Dictionary<string, TfNode>(StringComparer.Ordinal);
        foreach (var node in root.GetProperty("modelTopology").GetProperty("node").EnumerateArray())
        {
            var name = node.GetProperty("name").GetString()!;
            var inputs = node.TryGetProperty("input", out var list)
                ? list.EnumerateArray().Select(i => i.GetString()!).Where(i => !i.StartsWith('^')).ToArray()
                : [];
            var attributes = node.TryGetProperty("attr", out var attr) ? attr.Clone() : default;
            nodes[name] = new TfNode(name, node.GetProperty("op").GetString()!, inputs, attributes);
        }

        var weights = new Dictionary<string, ConstTensor>(StringComparer.Ordinal);
        foreach (var group in root.GetProperty("weightsManifest").EnumerateArray())
        {
            var bytes = group.GetProperty("paths").EnumerateArray()
                .SelectMany(path => File.ReadAllBytes(Path.Combine(directory, path.GetString()!)))
                .ToArray();
            var offset = 0;
            foreach (var weight in group.GetProperty("weights").EnumerateArray())
            {
                var name = weight.GetProperty("name").GetString()!;
                if (weight.TryGetProperty("quantization", out _))
                {
                    throw new ConversionException($"weight {name} is quantized; only float32 and int32 weights are supported");
                }

                var shape = weight.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
                var count = Shapes.Count(shape);
                var dtype = weight.GetProperty("dtype").GetString();
                var type = dtype switch
                {
                    "float32" => ElementType.Float,
                    "int32" => ElementType.Int,
                    _ => throw new ConversionException($"weight {name} has unsupported type {dtype}"),
                };
                if (offset + (count * 4) > bytes.Length)
                {
                    throw new ConversionException($"weight shards end before weight {name}");
                }

                var data = new double[count];
                for (var i = 0; i < count; i++)
                {
                    var span = bytes.AsSpan(offset + (i * 4), 4);
                    data[i] = type == ElementType.Float ? BinaryPrimitives.ReadSingleLittleEndian(span) : BinaryPrimitives.ReadInt32LittleEndian(span);
                }

                offset += count * 4;
                weights[name] = new ConstTensor(type, shape, data);
            }
        }

        return new TfGraphModel(nodes, weights);
    }
}
