namespace NitroEnclave.ModelConverter;

/// <summary>The element types the converter handles: float32 data and int32 shape arithmetic.</summary>
internal enum ElementType
{
    Float,
    Int,
}

/// <summary>
/// A tensor whose value is known at conversion time (a weight, or anything computed only from weights and static
/// shapes). Values are held as doubles, which represent every float32 and int32 exactly; float results are rounded to
/// float32 after each operation so folding gives the same numbers as running the op in float32.
/// </summary>
internal sealed class ConstTensor
{
    public ConstTensor(ElementType type, int[] shape, double[] data)
    {
        if (data.Length != Shapes.Count(shape))
        {
            throw new ConversionException($"tensor data has {data.Length} values but its shape [{string.Join(',', shape)}] needs {Shapes.Count(shape)}");
        }

        Type = type;
        Shape = shape;
        Data = data;
    }

    public ElementType Type { get; }

    public int[] Shape { get; }

    public double[] Data { get; }

    public int Rank => Shape.Length;

    public static ConstTensor Ints(params int[] values) => new(ElementType.Int, [values.Length], values.Select(v => (double)v).ToArray());

    public int[] AsInts()
    {
        if (Type != ElementType.Int)
        {
            throw new ConversionException("expected an integer tensor");
        }

        return Data.Select(v => (int)v).ToArray();
    }

    public int AsScalarInt() => Data.Length == 1 ? AsInts()[0] : throw new ConversionException("expected a scalar");

    public ConstTensor WithShape(int[] shape) => new(Type, shape, Data);

    public ConstTensor Map(Func<double, double> function) => new(Type, Shape, Data.Select(v => Round(function(v))).ToArray());

    /// <summary>Element-wise binary operation with NumPy broadcasting.</summary>
    public static ConstTensor Broadcast(ConstTensor a, ConstTensor b, Func<double, double, double> function)
    {
        if (a.Type != b.Type)
        {
            throw new ConversionException("element-wise operation on tensors of different types");
        }

        var shape = Shapes.Broadcast(a.Shape, b.Shape);
        var result = new double[Shapes.Count(shape)];
        var aStrides = Shapes.BroadcastStrides(a.Shape, shape);
        var bStrides = Shapes.BroadcastStrides(b.Shape, shape);
        var index = new int[shape.Length];
        for (var i = 0; i < result.Length; i++)
        {
            int aOffset = 0, bOffset = 0;
            for (var d = 0; d < shape.Length; d++)
            {
                aOffset += index[d] * aStrides[d];
                bOffset += index[d] * bStrides[d];
            }

            result[i] = function(a.Data[aOffset], b.Data[bOffset]);
            Shapes.Increment(index, shape);
        }

        var tensor = new ConstTensor(a.Type, shape, result);
        return tensor.Map(v => v);
    }

    public ConstTensor Transpose(int[] permutation)
    {
        var shape = permutation.Select(p => Shape[p]).ToArray();
        var strides = Shapes.Strides(Shape);
        var result = new double[Data.Length];
        var index = new int[shape.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var offset = 0;
            for (var d = 0; d < shape.Length; d++)
            {
                offset += index[d] * strides[permutation[d]];
            }

            result[i] = Data[offset];
            Shapes.Increment(index, shape);
        }

        return new ConstTensor(Type, shape, result);
    }

    /// <summary>Elements [start, start + step * n) along every axis, as a strided slice with resolved bounds.</summary>
    public ConstTensor Slice(int[] start, int[] step, int[] outputShape)
    {
        var strides = Shapes.Strides(Shape);
        var result = new double[Shapes.Count(outputShape)];
        var index = new int[outputShape.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var offset = 0;
            for (var d = 0; d < outputShape.Length; d++)
            {
                offset += (start[d] + (index[d] * step[d])) * strides[d];
            }

            result[i] = Data[offset];
            Shapes.Increment(index, outputShape);
        }

        return new ConstTensor(Type, outputShape, result);
    }

    public static ConstTensor Concat(IReadOnlyList<ConstTensor> parts, int axis)
    {
        var shape = (int[])parts[0].Shape.Clone();
        shape[axis] = parts.Sum(p => p.Shape[axis]);
        var outer = Shapes.Count(shape.AsSpan(0, axis));
        var inner = Shapes.Count(shape.AsSpan(axis + 1));
        var result = new List<double>(Shapes.Count(shape));
        for (var o = 0; o < outer; o++)
        {
            foreach (var part in parts)
            {
                var block = part.Shape[axis] * inner;
                result.AddRange(part.Data.AsSpan(o * block, block));
            }
        }

        return new ConstTensor(parts[0].Type, shape, [.. result]);
    }

    public ConstTensor Tile(int[] multiples)
    {
        var shape = Shape.Select((s, d) => s * multiples[d]).ToArray();
        var strides = Shapes.Strides(Shape);
        var result = new double[Shapes.Count(shape)];
        var index = new int[shape.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var offset = 0;
            for (var d = 0; d < shape.Length; d++)
            {
                offset += index[d] % Shape[d] * strides[d];
            }

            result[i] = Data[offset];
            Shapes.Increment(index, shape);
        }

        return new ConstTensor(Type, shape, result);
    }

    private double Round(double value) => Type == ElementType.Float ? (float)value : value;
}
