using Amazon;

namespace NitroEnclave.Aws;

/// <summary>An AWS Region: its code (eu-west-1) and its name (Europe (Ireland)).</summary>
public sealed record AwsRegion(string Name, string DisplayName);

/// <summary>The AWS Regions the SDK knows, across partitions (aws, aws-cn, aws-us-gov, ...).</summary>
public static class AwsRegions
{
    public static IReadOnlyList<AwsRegion> All { get; } =
        RegionEndpoint.EnumerableAllRegions.Select(r => new AwsRegion(r.SystemName, r.DisplayName)).OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
}
