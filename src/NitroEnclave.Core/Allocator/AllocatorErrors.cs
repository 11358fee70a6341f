namespace NitroEnclave.Allocator;

/// <summary>The stable error ids of allocator.yaml reading, validation and editing.</summary>
public static class AllocatorErrors
{
    public const string FileNotFound = "AllocatorFileNotFound";
    public const string FileInvalid = "AllocatorFileInvalid";
    public const string LayoutUnsupported = "AllocatorLayoutUnsupported";
    public const string WriteFailed = "AllocatorWriteFailed";
    public const string UnknownKey = "AllocatorUnknownKey";
    public const string DuplicateKey = "AllocatorDuplicateKey";
    public const string MemoryMissing = "AllocatorMemoryMissing";
    public const string MemoryInvalid = "AllocatorMemoryInvalid";
    public const string MemoryBelowImage = "AllocatorMemoryBelowImage";
    public const string CpuMissing = "AllocatorCpuMissing";
    public const string CpuConflict = "AllocatorCpuConflict";
    public const string CpuCountInvalid = "AllocatorCpuCountInvalid";
    public const string CpuCountNotWholeCores = "AllocatorCpuCountNotWholeCores";
    public const string CpuCountTooLarge = "AllocatorCpuCountTooLarge";
    public const string CpuPoolSyntax = "AllocatorCpuPoolSyntax";
    public const string CpuPoolIncludesCpu0 = "AllocatorCpuPoolIncludesCpu0";
    public const string CpuPoolOffline = "AllocatorCpuPoolOffline";
    public const string CpuPoolPartialCore = "AllocatorCpuPoolPartialCore";
    public const string CpuPoolMultipleNodes = "AllocatorCpuPoolMultipleNodes";
    public const string TopologyUnavailable = "AllocatorTopologyUnavailable";
    public const string NothingToSet = "AllocatorNothingToSet";
    public const string RestartFailed = "AllocatorRestartFailed";
    public const string SystemctlNotFound = "SystemctlNotFound";
    public const string ServiceNotFound = "AllocatorServiceNotFound";
}
