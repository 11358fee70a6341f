using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace NitroEnclave.ModelConverter;

/// <summary>Builds an ONNX opset 13 graph node by node, with deterministic names.</summary>
internal sealed class OnnxGraphBuilder
{
    public const int Opset = 13;

    private readonly GraphProto graph = new() { Name = "converted" };
    private readonly Dictionary<ConstTensor, string> initializers = new(ReferenceEqualityComparer.Instance);
    private int counter;

    public string Node(string opType, IEnumerable<string> inputs, params (string Name, object Value)[] attributes) =>
        Nodes(opType, inputs, 1, attributes)[0];

    public string[] Nodes(string opType, IEnumerable<string> inputs, int outputCount, params (string Name, object Value)[] attributes)
    {
        var id = counter++;
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{id}" };
        node.Input.AddRange(inputs);
        var outputs = Enumerable.Range(0, outputCount).Select(i => outputCount == 1 ? $"t{id}" : $"t{id}_{i}").ToArray();
        node.Output.AddRange(outputs);
        foreach (var (name, value) in attributes)
        {
            node.Attribute.Add(Attribute(name, value));
        }

        graph.Node.Add(node);
        return outputs;
    }

    /// <summary>A node whose single output gets a chosen name (a graph output).</summary>
    public void NamedNode(string opType, IEnumerable<string> inputs, string outputName)
    {
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{counter++}" };
        node.Input.AddRange(inputs);
        node.Output.Add(outputName);
        graph.Node.Add(node);
    }

    /// <summary>Adds a weight (once per tensor object) and returns its name. Integer tensors are stored as int64, as ONNX shape inputs need.</summary>
    public string Initializer(ConstTensor tensor)
    {
        if (initializers.TryGetValue(tensor, out var existing))
        {
            return existing;
        }

        var name = $"w{initializers.Count}";
        var proto = new TensorProto { Name = name };
        proto.Dims.AddRange(tensor.Shape.Select(d => (long)d));
        if (tensor.Type == ElementType.Float)
        {
            proto.DataType = (int)TensorProto.Types.DataType.Float;
            var bytes = new byte[tensor.Data.Length * 4];
            for (var i = 0; i < tensor.Data.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)tensor.Data[i]);
            }

            proto.RawData = ByteString.CopyFrom(bytes);
        }
        else
        {
            proto.DataType = (int)TensorProto.Types.DataType.Int64;
            var bytes = new byte[tensor.Data.Length * 8];
            for (var i = 0; i < tensor.Data.Length; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), (long)tensor.Data[i]);
            }

            proto.RawData = ByteString.CopyFrom(bytes);
        }

        graph.Initializer.Add(proto);
        initializers[tensor] = name;
        return name;
    }

    public string Int64s(params int[] values) => Initializer(ConstTensor.Ints(values));

    public void Input(string name, int[] shape) => graph.Input.Add(ValueInfo(name, shape));

    public void Output(string name, int[] shape) => graph.Output.Add(ValueInfo(name, shape));

    public ModelProto Build(string producer, string docString)
    {
        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = producer,
            DocString = docString,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        return model;
    }

    private static ValueInfoProto ValueInfo(string name, int[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
        tensorType.Shape.Dim.AddRange(shape.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }

    private static AttributeProto Attribute(string name, object value) => value switch
    {
        int i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
        int[] list => IntList(name, list),
        _ => throw new ConversionException($"unsupported attribute value for {name}"),
    };

    private static AttributeProto IntList(string name, int[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values.Select(v => (long)v));
        return attribute;
    }
}
