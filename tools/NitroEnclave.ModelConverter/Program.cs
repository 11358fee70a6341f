using Google.Protobuf;
using NitroEnclave.ModelConverter;

// Converts a TensorFlow.js graph model to ONNX (opset 13).
// usage: NitroEnclave.ModelConverter --graph model.json --input <node>=<n,h,w,c> --output-node <node>=<name> ... --out model.onnx [--input-name images]
const string Usage = "usage: NitroEnclave.ModelConverter --graph <model.json> --input <tf node>=<n,h,w,c> --output-node <tf node>=<onnx name> [--output-node ...] --out <model.onnx> [--input-name <name>]";
string? graphPath = null, input = null, outPath = null, inputName = "images";
var outputs = new List<(string Node, string Name)>();
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--graph": graphPath = args[i + 1]; break;
        case "--input": input = args[i + 1]; break;
        case "--input-name": inputName = args[i + 1]; break;
        case "--out": outPath = args[i + 1]; break;
        case "--output-node":
            var parts = args[i + 1].Split('=', 2);
            outputs.Add((parts[0], parts.Length == 2 ? parts[1] : parts[0]));
            break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}\n{Usage}");
            return 2;
    }
}

if (graphPath is null || input is null || outPath is null || outputs.Count == 0 || args.Length % 2 != 0 || !input.Contains('=', StringComparison.Ordinal))
{
    Console.Error.WriteLine(Usage);
    return 2;
}

try
{
    var inputNode = input[..input.LastIndexOf('=')];
    var inputShape = input[(input.LastIndexOf('=') + 1)..].Split(',').Select(d => int.Parse(d, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    if (inputShape.Length != 4)
    {
        throw new ConversionException("the input shape must be NHWC with four dimensions");
    }

    var model = TfGraphModel.Load(graphPath);
    var onnx = new GraphConverter(model).Convert(inputNode, inputShape, inputName, outputs, $"Converted from the TensorFlow.js graph model {Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(graphPath)))}/{Path.GetFileName(graphPath)}");

    // Write beside the target and rename, so a failed run never leaves a partial model.
    var fullOut = Path.GetFullPath(outPath);
    Directory.CreateDirectory(Path.GetDirectoryName(fullOut)!);
    var temporary = fullOut + ".tmp";
    using (var stream = File.Create(temporary))
    {
        onnx.WriteTo(stream);
    }

    File.Move(temporary, fullOut, overwrite: true);
    Console.WriteLine($"wrote {fullOut}: {onnx.Graph.Node.Count} nodes, {onnx.Graph.Initializer.Count} initializers");
    return 0;
}
catch (Exception e) when (e is ConversionException or IOException or System.Text.Json.JsonException or FormatException or KeyNotFoundException)
{
    Console.Error.WriteLine($"conversion failed: {e.Message}");
    return 1;
}
