using Onnx;

namespace NitroEnclave.ModelConverter;

/// <summary>A tensor during conversion: either known now (folded) or computed by the ONNX graph.</summary>
internal abstract class Value
{
    /// <summary>The shape in TensorFlow's terms (NHWC for images), whatever layout the ONNX tensor has.</summary>
    public abstract int[] Shape { get; }
}

internal sealed class Constant(ConstTensor tensor) : Value
{
    public ConstTensor Tensor { get; } = tensor;

    public override int[] Shape => Tensor.Shape;
}

/// <summary>A float tensor of the ONNX graph. Rank-4 tensors produced by convolutions are kept NCHW (<see cref="Nchw"/>).</summary>
internal sealed class Symbol(string name, int[] shape, bool nchw) : Value
{
    public string Name { get; } = name;

    public bool Nchw { get; } = nchw;

    public override int[] Shape { get; } = shape;
}

/// <summary>
/// Translates a TensorFlow graph to ONNX opset 13. Image tensors stay NCHW between convolutions (ONNX's layout) and are
/// transposed back to TensorFlow's NHWC only where an op depends on the axis order (reshape, slice, transpose, ...).
/// Every shape is static, so shape arithmetic (Shape, StridedSlice, Pack on int32) and anything computed only from
/// weights is folded into constants.
/// </summary>
internal sealed class GraphConverter(TfGraphModel model)
{
    private readonly OnnxGraphBuilder builder = new();
    private readonly Dictionary<string, Value[]> values = new(StringComparer.Ordinal);
    private readonly Dictionary<Symbol, string> nhwcNames = [];
    private readonly Dictionary<Symbol, string> nchwNames = [];
    private readonly Dictionary<ConstTensor, string> nchwConstants = new(ReferenceEqualityComparer.Instance);
    private readonly ConstTensor relu6Min = new(ElementType.Float, [], [0]);
    private readonly ConstTensor relu6Max = new(ElementType.Float, [], [6]);

    /// <summary>
    /// Converts the part of the graph between <paramref name="inputNode"/> (whose output the ONNX input, given NCHW,
    /// replaces) and the <paramref name="outputs"/>.
    /// </summary>
    public ModelProto Convert(string inputNode, int[] inputShapeNhwc, string inputName, IReadOnlyList<(string Node, string Name)> outputs, string docString)
    {
        builder.Input(inputName, Shapes.Permute(inputShapeNhwc, Shapes.ToNchw));
        values[inputNode] = [new Symbol(inputName, inputShapeNhwc, nchw: true)];
        foreach (var (node, name) in outputs)
        {
            if (Input(node) is not Symbol symbol)
            {
                throw new ConversionException($"output {node} does not depend on the input");
            }

            builder.NamedNode("Identity", [Nhwc(symbol)], name);
            builder.Output(name, symbol.Shape);
        }

        return builder.Build("NitroEnclave.ModelConverter", docString);
    }

    private Value Input(string reference)
    {
        var colon = reference.LastIndexOf(':');
        var name = colon < 0 ? reference : reference[..colon];
        var index = colon < 0 ? 0 : int.Parse(reference[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (!values.TryGetValue(name, out var outputs))
        {
            if (!model.Nodes.TryGetValue(name, out var node))
            {
                throw new ConversionException($"graph has no node {name}");
            }

            outputs = ConvertNode(node);
            values[name] = outputs;
        }

        return index < outputs.Length ? outputs[index] : throw new ConversionException($"node {name} has no output {index}");
    }

    private Value In(TfNode node, int index) =>
        index < node.Inputs.Length ? Input(node.Inputs[index]) : throw new ConversionException($"node {node.Name} ({node.Op}) lacks input {index}");

    private ConstTensor ConstIn(TfNode node, int index) =>
        In(node, index) is Constant constant ? constant.Tensor : throw new ConversionException($"input {index} of {node.Name} ({node.Op}) must be static");

    private Value[] ConvertNode(TfNode node) => node.Op switch
    {
        "Const" => [new Constant(model.Weights.TryGetValue(node.Name, out var weight) ? weight : throw new ConversionException($"no weight for constant {node.Name}"))],
        "Identity" => [In(node, 0)],
        "Shape" => [new Constant(ConstTensor.Ints(In(node, 0).Shape))],
        "Add" or "AddV2" or "BiasAdd" => [Binary("Add", In(node, 0), In(node, 1), (a, b) => a + b)],
        "Sub" => [Binary("Sub", In(node, 0), In(node, 1), (a, b) => a - b)],
        "Mul" => [Binary("Mul", In(node, 0), In(node, 1), (a, b) => a * b)],
        "RealDiv" => [Binary("Div", In(node, 0), In(node, 1), (a, b) => a / b)],
        "Square" => [Binary("Mul", In(node, 0), In(node, 0), (a, b) => a * b)],
        "AddN" => [AddN(node)],
        "Exp" => [Unary(In(node, 0), "Exp", Math.Exp)],
        "Sigmoid" => [Unary(In(node, 0), "Sigmoid", v => 1 / (1 + Math.Exp(-v)))],
        "Relu" => [Unary(In(node, 0), "Relu", v => Math.Max(v, 0))],
        "Relu6" => [Unary(In(node, 0), "Relu6", v => Math.Clamp(v, 0, 6))],
        "FusedBatchNorm" or "FusedBatchNormV3" => [BatchNorm(node)],
        "Conv2D" or "DepthwiseConv2dNative" or "_FusedConv2D" or "FusedDepthwiseConv2dNative" => [Convolution(node)],
        "MaxPool" => [MaxPool(node)],
        "Pad" => [Pad(node)],
        "ResizeNearestNeighbor" => [ResizeNearest(node)],
        "Reshape" => [ReshapeTo(In(node, 0), Shapes.ResolveReshape(ConstIn(node, 1).AsInts(), Shapes.Count(In(node, 0).Shape)))],
        "Squeeze" => [Squeeze(node)],
        "ExpandDims" => [ExpandDims(node)],
        "Transpose" => [Transpose(In(node, 0), ConstIn(node, 1).AsInts())],
        "ConcatV2" => [Concat(node)],
        "Pack" => [Pack(node)],
        "Unpack" => Unpack(node),
        "Slice" => [Slice(node)],
        "StridedSlice" => [StridedSlice(node)],
        "Tile" => [Tile(In(node, 0), ConstIn(node, 1).AsInts())],
        _ => throw new ConversionException($"operation {node.Op} (node {node.Name}) is not supported"),
    };

    private Value Binary(string op, Value a, Value b, Func<double, double, double> fold)
    {
        if (a is Constant x && b is Constant y)
        {
            return new Constant(ConstTensor.Broadcast(x.Tensor, y.Tensor, fold));
        }

        var shape = Shapes.Broadcast(a.Shape, b.Shape);
        var nchw = shape.Length == 4 && (IsNchw(a) || IsNchw(b));
        return new Symbol(builder.Node(op, [Operand(a, nchw), Operand(b, nchw)]), shape, nchw);
    }

    private Value AddN(TfNode node)
    {
        var parts = Enumerable.Range(0, node.Inputs.Length).Select(i => In(node, i)).ToArray();
        if (parts.All(p => p is Constant))
        {
            return parts.Skip(1).Aggregate(parts[0], (sum, p) => Binary("Add", sum, p, (a, b) => a + b));
        }

        var shape = parts.Select(p => p.Shape).Aggregate(Shapes.Broadcast);
        var nchw = shape.Length == 4 && parts.Any(IsNchw);
        return new Symbol(builder.Node("Sum", parts.Select(p => Operand(p, nchw))), shape, nchw);
    }

    private Value Unary(Value x, string op, Func<double, double> fold)
    {
        if (x is Constant constant)
        {
            return new Constant(constant.Tensor.Map(fold));
        }

        var symbol = (Symbol)x;
        var name = op == "Relu6"
            ? builder.Node("Clip", [symbol.Name, builder.Initializer(relu6Min), builder.Initializer(relu6Max)])
            : builder.Node(op, [symbol.Name]);
        return new Symbol(name, symbol.Shape, symbol.Nchw);
    }

    /// <summary>Inference-mode batch normalisation folded to one multiply and one add per channel.</summary>
    private Value BatchNorm(TfNode node)
    {
        var scale = ConstIn(node, 1);
        var offset = ConstIn(node, 2);
        var mean = ConstIn(node, 3);
        var variance = ConstIn(node, 4);
        var epsilon = node.Float("epsilon", 0.001f);
        var multiplier = ConstTensor.Broadcast(scale, variance.Map(v => 1 / Math.Sqrt((float)(v + epsilon))), (s, r) => s * r);
        var shift = ConstTensor.Broadcast(offset, ConstTensor.Broadcast(mean, multiplier, (m, k) => m * k), (o, mk) => o - mk);
        var scaled = Binary("Mul", In(node, 0), new Constant(multiplier), (a, b) => a * b);
        return Binary("Add", scaled, new Constant(shift), (a, b) => a + b);
    }

    private Value Convolution(TfNode node)
    {
        var x = RequireSymbol(node, 0);
        var weights = ConstIn(node, 1);
        RequireNhwc(node);
        var depthwise = node.Op.Contains("Depthwise", StringComparison.Ordinal);
        var (kh, kw) = (weights.Shape[0], weights.Shape[1]);
        ConstTensor kernel;
        int group, outChannels;
        if (depthwise)
        {
            // TF [H, W, C, M] -> ONNX [C * M, 1, H, W] with one group per input channel.
            var (channels, multiplier) = (weights.Shape[2], weights.Shape[3]);
            kernel = weights.Transpose([2, 3, 0, 1]).WithShape([channels * multiplier, 1, kh, kw]);
            group = channels;
            outChannels = channels * multiplier;
        }
        else
        {
            // TF HWIO -> ONNX OIHW.
            kernel = weights.Transpose([3, 2, 0, 1]);
            group = 1;
            outChannels = weights.Shape[3];
        }

        var inputs = new List<string> { Nchw(x), builder.Initializer(kernel) };
        var activations = new List<string>();
        if (node.Op.Contains("Fused", StringComparison.Ordinal))
        {
            var fused = node.Strings("fused_ops");
            if (fused.Length == 0 || fused[0] != "BiasAdd")
            {
                throw new ConversionException($"fused convolution {node.Name} with [{string.Join(',', fused)}] is not supported");
            }

            inputs.Add(builder.Initializer(ConstIn(node, 2)));
            activations.AddRange(fused.Skip(1));
        }

        var strides = node.Ints("strides");
        var dilations = node.Ints("dilations") is { Length: 4 } d ? d : [1, 1, 1, 1];
        var same = SamePadding(node);
        int[] shape =
        [
            x.Shape[0],
            Shapes.WindowOutput(x.Shape[1], kh, strides[1], dilations[1], same),
            Shapes.WindowOutput(x.Shape[2], kw, strides[2], dilations[2], same),
            outChannels,
        ];
        Value result = new Symbol(
            builder.Node("Conv", inputs, ("kernel_shape", new[] { kh, kw }), ("strides", new[] { strides[1], strides[2] }), ("dilations", new[] { dilations[1], dilations[2] }), ("group", group), ("auto_pad", same ? "SAME_UPPER" : "VALID")),
            shape,
            nchw: true);
        foreach (var activation in activations)
        {
            result = activation switch
            {
                "Relu" => Unary(result, "Relu", v => v),
                "Relu6" => Unary(result, "Relu6", v => v),
                _ => throw new ConversionException($"fused activation {activation} in {node.Name} is not supported"),
            };
        }

        return result;
    }

    private Symbol MaxPool(TfNode node)
    {
        var x = RequireSymbol(node, 0);
        RequireNhwc(node);
        var size = node.Ints("ksize");
        var strides = node.Ints("strides");
        var same = SamePadding(node);
        int[] shape = [x.Shape[0], Shapes.WindowOutput(x.Shape[1], size[1], strides[1], 1, same), Shapes.WindowOutput(x.Shape[2], size[2], strides[2], 1, same), x.Shape[3]];
        var name = builder.Node("MaxPool", [Nchw(x)], ("kernel_shape", new[] { size[1], size[2] }), ("strides", new[] { strides[1], strides[2] }), ("auto_pad", same ? "SAME_UPPER" : "VALID"));
        return new Symbol(name, shape, nchw: true);
    }

    private Symbol Pad(TfNode node)
    {
        var x = RequireSymbol(node, 0);
        var paddings = ConstIn(node, 1).AsInts();
        var rank = x.Shape.Length;
        var shape = x.Shape.Select((s, d) => s + paddings[2 * d] + paddings[(2 * d) + 1]).ToArray();
        var nchw = rank == 4;
        var order = nchw ? Shapes.ToNchw : Enumerable.Range(0, rank).ToArray();
        var pads = order.Select(d => paddings[2 * d]).Concat(order.Select(d => paddings[(2 * d) + 1])).ToArray();
        var name = builder.Node("Pad", [nchw ? Nchw(x) : Nhwc(x), builder.Int64s(pads)], ("mode", "constant"));
        return new Symbol(name, shape, nchw);
    }

    private Symbol ResizeNearest(TfNode node)
    {
        var x = RequireSymbol(node, 0);
        var size = ConstIn(node, 1).AsInts();
        var (mode, rounding) = node.Bool("align_corners") ? ("align_corners", "round_prefer_ceil")
            : node.Bool("half_pixel_centers") ? ("tf_half_pixel_for_nn", "floor")
            : ("asymmetric", "floor");
        int[] shape = [x.Shape[0], size[0], size[1], x.Shape[3]];
        var name = builder.Node(
            "Resize",
            [Nchw(x), string.Empty, string.Empty, builder.Int64s(Shapes.Permute(shape, Shapes.ToNchw))],
            ("mode", "nearest"),
            ("coordinate_transformation_mode", mode),
            ("nearest_mode", rounding));
        return new Symbol(name, shape, nchw: true);
    }

    private Value Squeeze(TfNode node)
    {
        var x = In(node, 0);
        var axes = node.Ints("squeeze_dims").Select(a => Shapes.Axis(a, x.Shape.Length)).ToHashSet();
        var shape = x.Shape.Where((s, d) => axes.Count == 0 ? s != 1 : !axes.Contains(d)).ToArray();
        return ReshapeTo(x, shape);
    }

    private Value ExpandDims(TfNode node)
    {
        var x = In(node, 0);
        var axis = Shapes.Axis(ConstIn(node, 1).AsScalarInt(), x.Shape.Length + 1);
        return ReshapeTo(x, [.. x.Shape[..axis], 1, .. x.Shape[axis..]]);
    }

    private Value ReshapeTo(Value x, int[] shape)
    {
        if (x is Constant constant)
        {
            return new Constant(constant.Tensor.WithShape(shape));
        }

        return new Symbol(builder.Node("Reshape", [Nhwc((Symbol)x), builder.Int64s(shape)]), shape, nchw: false);
    }

    private Value Transpose(Value x, int[] permutation)
    {
        if (x is Constant constant)
        {
            return new Constant(constant.Tensor.Transpose(permutation));
        }

        // A tensor held NCHW is transposed from that layout directly instead of going through NHWC first.
        var symbol = (Symbol)x;
        var physical = symbol.Nchw ? permutation.Select(p => Shapes.ToNhwc[p]).ToArray() : permutation;
        var shape = Shapes.Permute(symbol.Shape, permutation);
        return new Symbol(builder.Node("Transpose", [symbol.Name], ("perm", physical)), shape, nchw: false);
    }

    private Value Concat(TfNode node)
    {
        var count = node.Inputs.Length - 1;
        var parts = Enumerable.Range(0, count).Select(i => In(node, i)).ToArray();
        var axis = Shapes.Axis(ConstIn(node, count).AsScalarInt(), parts[0].Shape.Length);
        if (parts.All(p => p is Constant))
        {
            return new Constant(ConstTensor.Concat(parts.Select(p => ((Constant)p).Tensor).ToArray(), axis));
        }

        var shape = (int[])parts[0].Shape.Clone();
        shape[axis] = parts.Sum(p => p.Shape[axis]);
        var nchw = shape.Length == 4 && parts.Any(IsNchw);
        var onnxAxis = nchw ? Array.IndexOf(Shapes.ToNchw, axis) : axis;
        return new Symbol(builder.Node("Concat", parts.Select(p => Operand(p, nchw)), ("axis", onnxAxis)), shape, nchw);
    }

    private Value Pack(TfNode node)
    {
        var parts = Enumerable.Range(0, node.Inputs.Length).Select(i => In(node, i)).ToArray();
        var axis = Shapes.Axis(node.Int("axis"), parts[0].Shape.Length + 1);
        int[] partShape = [.. parts[0].Shape[..axis], 1, .. parts[0].Shape[axis..]];
        var expanded = parts.Select(p => ReshapeTo(p, partShape)).ToArray();
        if (expanded.All(p => p is Constant))
        {
            return new Constant(ConstTensor.Concat(expanded.Select(p => ((Constant)p).Tensor).ToArray(), axis));
        }

        var shape = (int[])partShape.Clone();
        shape[axis] = parts.Length;
        return new Symbol(builder.Node("Concat", expanded.Select(p => Operand(p, nchw: false)), ("axis", axis)), shape, nchw: false);
    }

    private Value[] Unpack(TfNode node)
    {
        var x = In(node, 0);
        var axis = Shapes.Axis(node.Int("axis"), x.Shape.Length);
        var count = x.Shape[axis];
        var partShape = x.Shape.Where((_, d) => d != axis).ToArray();
        if (x is Constant constant)
        {
            return Enumerable.Range(0, count).Select(i =>
            {
                var start = new int[x.Shape.Length];
                start[axis] = i;
                var sliceShape = (int[])x.Shape.Clone();
                sliceShape[axis] = 1;
                return (Value)new Constant(constant.Tensor.Slice(start, Enumerable.Repeat(1, x.Shape.Length).ToArray(), sliceShape).WithShape(partShape));
            }).ToArray();
        }

        var names = builder.Nodes("Split", [Nhwc((Symbol)x), builder.Int64s(Enumerable.Repeat(1, count).ToArray())], count, ("axis", axis));
        return names.Select(n => new Symbol(builder.Node("Reshape", [n, builder.Int64s(partShape)]), partShape, nchw: false)).ToArray<Value>();
    }

    private Value Slice(TfNode node)
    {
        var x = In(node, 0);
        var begin = ConstIn(node, 1).AsInts();
        var size = ConstIn(node, 2).AsInts();
        var shape = size.Select((s, d) => s == -1 ? x.Shape[d] - begin[d] : s).ToArray();
        return SliceRange(x, begin, Enumerable.Repeat(1, shape.Length).ToArray(), shape, shape);
    }

    /// <summary>TensorFlow's StridedSlice with every bound resolved against the static input shape.</summary>
    private Value StridedSlice(TfNode node)
    {
        var x = In(node, 0);
        var begin = ConstIn(node, 1).AsInts();
        var end = ConstIn(node, 2).AsInts();
        var strides = ConstIn(node, 3).AsInts();
        var (beginMask, endMask, ellipsisMask, shrinkMask) = (node.Int("begin_mask"), node.Int("end_mask"), node.Int("ellipsis_mask"), node.Int("shrink_axis_mask"));
        if (node.Int("new_axis_mask") != 0)
        {
            throw new ConversionException($"StridedSlice {node.Name} uses new_axis_mask, which is not supported");
        }

        var rank = x.Shape.Length;
        var start = new int[rank];
        var step = Enumerable.Repeat(1, rank).ToArray();
        var count = (int[])x.Shape.Clone();
        var kept = new List<int>();
        var dimension = 0;
        for (var i = 0; i < begin.Length; i++)
        {
            if ((ellipsisMask & (1 << i)) != 0)
            {
                var covered = rank - (begin.Length - 1);
                for (var k = 0; k < covered; k++)
                {
                    kept.Add(count[dimension++]);
                }

                continue;
            }

            var size = x.Shape[dimension];
            if ((shrinkMask & (1 << i)) != 0)
            {
                start[dimension] = begin[i] < 0 ? begin[i] + size : begin[i];
                count[dimension++] = 1;
                continue;
            }

            var stride = strides[i];
            int from, to;
            if (stride > 0)
            {
                from = (beginMask & (1 << i)) != 0 ? 0 : Math.Clamp(begin[i] < 0 ? begin[i] + size : begin[i], 0, size);
                to = (endMask & (1 << i)) != 0 ? size : Math.Clamp(end[i] < 0 ? end[i] + size : end[i], 0, size);
                count[dimension] = Math.Max(0, (to - from + stride - 1) / stride);
            }
            else
            {
                from = (beginMask & (1 << i)) != 0 ? size - 1 : Math.Clamp(begin[i] < 0 ? begin[i] + size : begin[i], -1, size - 1);
                to = (endMask & (1 << i)) != 0 ? -1 : Math.Clamp(end[i] < 0 ? end[i] + size : end[i], -1, size - 1);
                count[dimension] = Math.Max(0, (from - to - stride - 1) / -stride);
            }

            start[dimension] = from;
            step[dimension] = stride;
            kept.Add(count[dimension++]);
        }

        while (dimension < rank)
        {
            kept.Add(count[dimension++]);
        }

        return SliceRange(x, start, step, count, [.. kept]);
    }

    private Value SliceRange(Value x, int[] start, int[] step, int[] count, int[] outputShape)
    {
        if (x is Constant constant)
        {
            return new Constant(constant.Tensor.Slice(start, step, count).WithShape(outputShape));
        }

        var symbol = (Symbol)x;
        var axes = Enumerable.Range(0, count.Length).Where(d => count[d] != symbol.Shape[d]).ToArray();
        var name = Nhwc(symbol);
        if (axes.Length > 0)
        {
            // A negative end would count from the back in ONNX; -(size + 1) means "before the first element".
            var ends = axes.Select(d => start[d] + (count[d] * step[d]) is var e && e < 0 ? -(symbol.Shape[d] + 1) : e).ToArray();
            name = builder.Node("Slice", [name, builder.Int64s(axes.Select(d => start[d]).ToArray()), builder.Int64s(ends), builder.Int64s(axes), builder.Int64s(axes.Select(d => step[d]).ToArray())]);
        }

        var sliced = new Symbol(name, count, nchw: false);
        return count.SequenceEqual(outputShape) ? sliced : ReshapeTo(sliced, outputShape);
    }

    private Value Tile(Value x, int[] multiples)
    {
        if (x is Constant constant)
        {
            return new Constant(constant.Tensor.Tile(multiples));
        }

        var symbol = (Symbol)x;
        var shape = symbol.Shape.Select((s, d) => s * multiples[d]).ToArray();
        return new Symbol(builder.Node("Tile", [Nhwc(symbol), builder.Int64s(multiples)]), shape, nchw: false);
    }

    private static bool IsNchw(Value value) => value is Symbol { Nchw: true };

    private static bool SamePadding(TfNode node) => node.String("padding") switch
    {
        "SAME" => true,
        "VALID" => false,
        var other => throw new ConversionException($"padding {other} of {node.Name} is not supported"),
    };

    private static void RequireNhwc(TfNode node)
    {
        if (node.OptionalString("data_format") is { } format && format != "NHWC")
        {
            throw new ConversionException($"{node.Name} uses data format {format}; only NHWC is supported");
        }
    }

    private Symbol RequireSymbol(TfNode node, int index) =>
        In(node, index) as Symbol ?? throw new ConversionException($"input {index} of {node.Name} ({node.Op}) must depend on the model input");

    /// <summary>The ONNX name of a value as an operand in NCHW (rank-4 broadcast) or in TensorFlow's own layout.</summary>
    private string Operand(Value value, bool nchw)
    {
        if (value is Symbol symbol)
        {
            return nchw ? Nchw(symbol) : Nhwc(symbol);
        }

        var tensor = ((Constant)value).Tensor;
        if (!nchw)
        {
            return builder.Initializer(tensor);
        }

        if (!nchwConstants.TryGetValue(tensor, out var name))
        {
            name = builder.Initializer(tensor.WithShape(Shapes.ToRank4(tensor.Shape)).Transpose(Shapes.ToNchw));
            nchwConstants[tensor] = name;
        }

        return name;
    }

    private string Nhwc(Symbol symbol)
    {
        if (!symbol.Nchw)
        {
            return symbol.Name;
        }

        if (!nhwcNames.TryGetValue(symbol, out var name))
        {
            name = builder.Node("Transpose", [symbol.Name], ("perm", Shapes.ToNhwc));
            nhwcNames[symbol] = name;
        }

        return name;
    }

    private string Nchw(Symbol symbol)
    {
        if (symbol.Nchw)
        {
            return symbol.Name;
        }

        if (!nchwNames.TryGetValue(symbol, out var name))
        {
            var source = symbol.Shape.Length == 4 ? symbol.Name : builder.Node("Reshape", [symbol.Name, builder.Int64s(Shapes.ToRank4(symbol.Shape))]);
            name = builder.Node("Transpose", [source], ("perm", Shapes.ToNchw));
            nchwNames[symbol] = name;
        }

        return name;
    }
}
