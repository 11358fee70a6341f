namespace NitroEnclave.ModelConverter;

/// <summary>Static shape arithmetic shared by constant folding and shape inference.</summary>
internal static class Shapes
{
    /// <summary>TensorFlow's NHWC axis order seen from ONNX's NCHW: NCHW dimension i is NHWC dimension ToNchw[i].</summary>
    public static readonly int[] ToNchw = [0, 3, 1, 2];

    public static readonly int[] ToNhwc = [0, 2, 3, 1];

    public static int Count(ReadOnlySpan<int> shape)
    {
        var count = 1;
        foreach (var dimension in shape)
        {
            count *= dimension;
        }

        return count;
    }

    public static int[] Strides(int[] shape)
    {
        var strides = new int[shape.Length];
        var stride = 1;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= shape[d];
        }

        return strides;
    }

    public static int[] Broadcast(int[] a, int[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var shape = new int[rank];
        for (var d = 0; d < rank; d++)
        {
            var x = d - (rank - a.Length) >= 0 ? a[d - (rank - a.Length)] : 1;
            var y = d - (rank - b.Length) >= 0 ? b[d - (rank - b.Length)] : 1;
            if (x != y && x != 1 && y != 1)
            {
                throw new ConversionException($"shapes [{string.Join(',', a)}] and [{string.Join(',', b)}] do not broadcast");
            }

            shape[d] = Math.Max(x, y);
        }

        return shape;
    }

    /// <summary>Strides of <paramref name="shape"/> read as <paramref name="target"/>: 0 along broadcast axes.</summary>
    public static int[] BroadcastStrides(int[] shape, int[] target)
    {
        var own = Strides(shape);
        var strides = new int[target.Length];
        var skip = target.Length - shape.Length;
        for (var d = 0; d < shape.Length; d++)
        {
            strides[skip + d] = shape[d] == 1 ? 0 : own[d];
        }

        return strides;
    }

    public static void Increment(int[] index, int[] shape)
    {
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            if (++index[d] < shape[d])
            {
                return;
            }

            index[d] = 0;
        }
    }

    public static int[] Permute(int[] shape, int[] permutation) => permutation.Select(p => shape[p]).ToArray();

    /// <summary>Prefixes 1s so a shape has rank 4, as broadcasting would.</summary>
    public static int[] ToRank4(int[] shape) => [.. Enumerable.Repeat(1, 4 - shape.Length), .. shape];

    public static int Axis(int axis, int rank) => axis < 0 ? axis + rank : axis;

    /// <summary>Resolves a Reshape target with at most one -1.</summary>
    public static int[] ResolveReshape(int[] requested, int count)
    {
        var shape = (int[])requested.Clone();
        var unknown = Array.IndexOf(shape, -1);
        if (unknown >= 0)
        {
            shape[unknown] = 1;
            shape[unknown] = count / Count(shape);
        }

        if (Count(shape) != count)
        {
            throw new ConversionException($"cannot reshape {count} values to [{string.Join(',', requested)}]");
        }

        return shape;
    }

    /// <summary>The output size of a convolution or pooling window along one axis.</summary>
    public static int WindowOutput(int input, int kernel, int stride, int dilation, bool same) =>
        same ? (input + stride - 1) / stride : ((input - ((kernel - 1) * dilation) - 1) / stride) + 1;
}

/// <summary>A model the converter cannot translate faithfully.</summary>
internal sealed class ConversionException(string message) : Exception(message);
