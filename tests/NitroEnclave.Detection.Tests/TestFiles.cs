namespace NitroEnclave.Detection.Tests;

/// <summary>
/// Where the prepared models and fetched photos live. They are not in git; when they are missing the tests fail
/// with the command that creates them (never skip).
/// </summary>
internal static class TestFiles
{
    public static readonly string RepositoryRoot = FindRoot();

    public static string SsdModel => Require(Path.Combine(RepositoryRoot, "models", DetectorOptions.DefaultModelFileName), "scripts/prepare-models.sh");

    public static string YoloModel => Require(Path.Combine(RepositoryRoot, "models", "cache", "yolov5s.onnx"), "scripts/prepare-models.sh");

    public static string Photo(string name) => Require(Path.Combine(RepositoryRoot, "tests", "cache", "photos", name), "scripts/fetch-test-photos.sh");

    public static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "data", "detection", name);

    public static byte[] DataBytes(string name) => File.ReadAllBytes(Data(name));

    private static string Require(string path, string script) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run ./{script} from the repository root first", path);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "NitroEnclave.psd1")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root (NitroEnclave.psd1) not found above the test output");
    }
}

/// <summary>One detector per model for the whole test run: loading a session costs far more than a detection.</summary>
public sealed class DetectorFixture : IDisposable
{
    private readonly Lazy<ObjectDetector> ssd = new(() => ObjectDetector.Create(new DetectorOptions { ModelPath = TestFiles.SsdModel, IntraOpThreads = 2 }));
    private readonly Lazy<ObjectDetector> yolo = new(() => ObjectDetector.Create(new DetectorOptions { ModelPath = TestFiles.YoloModel, IntraOpThreads = 2 }));

    public ObjectDetector Ssd => ssd.Value;

    public ObjectDetector Yolo => yolo.Value;

    public void Dispose()
    {
        if (ssd.IsValueCreated)
        {
            ssd.Value.Dispose();
        }

        if (yolo.IsValueCreated)
        {
            yolo.Value.Dispose();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DetectorGroup : ICollectionFixture<DetectorFixture>
{
    public const string Name = "Detectors";
}
