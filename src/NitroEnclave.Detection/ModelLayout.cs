using Microsoft.ML.OnnxRuntime;

namespace NitroEnclave.Detection;

/// <summary>The input size and output layout of a detector, read from the model's metadata.</summary>
internal sealed record ModelLayout(DetectorModelKind Kind, string InputName, int InputWidth, int InputHeight, string[] OutputNames, int ClassCount)
{
    public static ModelLayout Inspect(InferenceSession session, DetectorModelKind requested)
    {
        if (session.InputNames.Count != 1)
        {
            throw Unsupported($"a detector has one input; this model has {session.InputNames.Count}");
        }

        var inputName = session.InputNames[0];
        var input = session.InputMetadata[inputName];
        var dims = input.Dimensions;
        if (input.ElementType != typeof(float) || dims.Length != 4 || dims[1] != 3 || dims[2] <= 0 || dims[3] <= 0)
        {
            throw Unsupported($"the input must be float [1, 3, height, width] with a fixed size; it is {input.ElementType.Name} [{string.Join(", ", dims)}]");
        }

        var outputs = session.OutputNames.Select(name => (Name: name, Dims: session.OutputMetadata[name].Dimensions)).ToArray();
        var kind = requested == DetectorModelKind.Auto ? Guess(outputs.Select(o => o.Dims).ToArray()) : requested;
        string[] names;
        int classes;
        switch (kind)
        {
            case DetectorModelKind.Ssd:
                var boxes = Array.FindIndex(outputs, o => o.Dims.Length is 3 or 4 && o.Dims[^1] == 4);
                var scores = Array.FindIndex(outputs, o => o.Dims.Length == 3 && o.Dims[^1] != 4);
                if (outputs.Length != 2 || boxes < 0 || scores < 0 || outputs[boxes].Dims[1] != outputs[scores].Dims[1])
                {
                    throw Unsupported("an SSD detector has two outputs: boxes [1, N, 1, 4] or [1, N, 4] and scores [1, N, classes]");
                }

                names = [outputs[boxes].Name, outputs[scores].Name];
                classes = outputs[scores].Dims[2];
                break;
            case DetectorModelKind.YoloV5:
                if (outputs.Length != 1 || outputs[0].Dims.Length != 3 || outputs[0].Dims[2] <= 5)
                {
                    throw Unsupported("a YOLOv5 detector has one output [1, N, 5 + classes]");
                }

                names = [outputs[0].Name];
                classes = outputs[0].Dims[2] - 5;
                break;
            default:
                if (outputs.Length != 1 || outputs[0].Dims.Length != 3 || outputs[0].Dims[1] <= 4)
                {
                    throw Unsupported("a YOLOv8 detector has one output [1, 4 + classes, N]");
                }

                names = [outputs[0].Name];
                classes = outputs[0].Dims[1] - 4;
                break;
        }

        return new ModelLayout(kind, inputName, dims[3], dims[2], names, classes);
    }

    private static DetectorModelKind Guess(int[][] outputs)
    {
        if (outputs.Length == 2)
        {
            return DetectorModelKind.Ssd;
        }

        if (outputs.Length == 1 && outputs[0].Length == 3)
        {
            var (rows, columns) = (outputs[0][1], outputs[0][2]);
            if (columns > 5 && rows > columns)
            {
                return DetectorModelKind.YoloV5;
            }

            if (rows > 4 && columns > rows)
            {
                return DetectorModelKind.YoloV8;
            }
        }

        throw Unsupported($"the outputs [{string.Join("], [", outputs.Select(o => string.Join(", ", o)))}] match no supported detector layout (SSD, YOLOv5, YOLOv8)");
    }

    private static NitroEnclaveException Unsupported(string message) => new(DetectionErrors.ModelUnsupported, ErrorKind.InvalidData, message);
}
