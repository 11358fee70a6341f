using NitroEnclave.Protocol;

namespace NitroEnclave.Tests.Protocol;

public sealed class DetectionClassesTests
{
    private static readonly string[] Labels = ["person", "airplane", "traffic light"];

    [Fact]
    public void Labels_match_ignoring_case_and_unknown_ones_are_named_once()
    {
        Assert.Empty(DetectionClasses.FindUnknown(["AIRPLANE", "Traffic Light"], Labels));
        Assert.Equal(["aeroplane", "cars"], DetectionClasses.FindUnknown(["person", "aeroplane", "cars", "Aeroplane"], Labels));
    }

    [Fact]
    public void The_error_names_the_unknown_labels_and_lists_the_models()
    {
        var error = DetectionClasses.UnknownError(["aeroplane"], Labels, "ssdlite");

        Assert.Equal(DetectionClasses.Unknown, error.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Equal("The model 'ssdlite' has no label 'aeroplane'. Its labels: person, airplane, traffic light.", error.Message);
    }

    [Fact]
    public void A_labels_file_gives_its_labels_without_blank_lines_or_repeats()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "person\n\nairplane\n traffic light \nAirplane\n");
            Assert.Equal(["person", "airplane", "traffic light"], DetectionClasses.ReadLabelsFile(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
