using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

namespace NitroEnclave.Detection.Tests;

/// <summary>
/// The converted ONNX models against the original TensorFlow.js graphs: reference outputs were computed once by
/// models/reference/make-reference.js (@tensorflow/tfjs, CPU backend) on a synthetic image; the ONNX models must
/// reproduce them.
/// </summary>
public sealed class ConversionFaithfulnessTests
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void Ssdlite_outputs_match_the_tensorflow_js_graph()
    {
        var outputs = Run(TestFiles.SsdModel, 300, 1f);
        Compare("ssdlite-reference.json", outputs);
    }

    [Fact]
    public void Yolov5s_outputs_match_the_tensorflow_js_graph()
    {
        var outputs = Run(TestFiles.YoloModel, 640, 1f / 255);
        Compare("yolov5s-reference.json", outputs);
    }

    /// <summary>The reference script's pixel function, NCHW.</summary>
    private static float[] SyntheticImage(int size, float scale)
    {
        var data = new float[3 * size * size];
        for (var c = 0; c < 3; c++)
        {
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    data[(c * size * size) + (y * size) + x] = ((x * 3) + (y * 5) + (c * 71) + ((x * y % 17) * 7)) % 256 * scale;
                }
            }
        }

        return data;
    }

    private static Dictionary<string, (long[] Shape, float[] Values)> Run(string modelPath, int size, float scale)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        using var session = new InferenceSession(modelPath, options);
        using var input = OrtValue.CreateTensorValueFromMemory(SyntheticImage(size, scale), [1, 3, size, size]);
        using var results = session.Run(new RunOptions(), [session.InputNames[0]], [input], session.OutputNames);
        return session.OutputNames.Select((name, i) => (name, value: results[i]))
            .ToDictionary(o => o.name, o => (o.value.GetTensorTypeAndShape().Shape, o.value.GetTensorDataAsSpan<float>().ToArray()));
    }

    private static void Compare(string referenceFile, Dictionary<string, (long[] Shape, float[] Values)> actual)
    {
        using var reference = JsonDocument.Parse(TestFiles.DataBytes(referenceFile));
        var outputs = reference.RootElement.GetProperty("outputs").EnumerateArray().ToArray();
        Assert.Equal(outputs.Length, actual.Count);
        foreach (var output in outputs)
        {
            var name = output.GetProperty("name").GetString()!;
            Assert.True(actual.ContainsKey(name), $"the model has no output {name}");
            var (shape, values) = actual[name];
            Assert.Equal(output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), shape);

            var samples = output.GetProperty("samples").EnumerateArray().ToArray();
            Assert.True(samples.Length >= 100);
            var worst = 0.0;
            foreach (var sample in samples)
            {
                var index = sample[0].GetInt32();
                var expected = sample[1].GetDouble();
                worst = Math.Max(worst, Math.Abs(values[index] - expected) / Math.Max(1, Math.Abs(expected)));
            }

            Assert.True(worst <= Tolerance, $"{name}: largest sampled difference {worst:E2} exceeds {Tolerance:E0}");

            var absSum = output.GetProperty("absSum").GetDouble();
            var sum = values.Sum(v => (double)v);
            var actualAbsSum = values.Sum(v => Math.Abs((double)v));
            Assert.True(Math.Abs(sum - output.GetProperty("sum").GetDouble()) <= Tolerance * absSum, $"{name}: sum {sum} differs from the reference");
            Assert.True(Math.Abs(actualAbsSum - absSum) <= Tolerance * absSum, $"{name}: sum of magnitudes {actualAbsSum} differs from the reference {absSum}");
        }
    }
}
