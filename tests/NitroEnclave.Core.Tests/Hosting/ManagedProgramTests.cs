using System.Runtime.InteropServices;
using NitroEnclave.Hosting;

namespace NitroEnclave.Tests.Hosting;

/// <summary>Which way the module's own .NET programs start, and where the simulation refuses to run.</summary>
public sealed class ManagedProgramTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("managedprogram-");

    public void Dispose() => _folder.Delete(recursive: true);

    [Theory]
    [InlineData("OSX", Architecture.X64)]
    [InlineData("WINDOWS", Architecture.X64)]
    [InlineData("WINDOWS", Architecture.Arm64)]
    [InlineData("LINUX", Architecture.X86)]
    [InlineData("LINUX", Architecture.Arm)]
    public void The_simulation_refuses_platforms_its_enclave_server_does_not_ship_for(string os, Architecture architecture)
    {
        var error = Assert.Throws<NitroEnclaveException>(() => ManagedProgram.EnsureSimulationRuns(OSPlatform.Create(os), architecture));
        Assert.Equal("SimulationPlatformNotSupported", error.ErrorId);
        Assert.Equal(ErrorKind.NotImplemented, error.Kind);
        Assert.Contains("Linux x64 and arm64 only", error.Message, StringComparison.Ordinal);
        Assert.Contains(architecture.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Architecture.X64)]
    [InlineData(Architecture.Arm64)]
    public void The_simulation_runs_on_linux_x64_and_arm64(Architecture architecture) =>
        ManagedProgram.EnsureSimulationRuns(OSPlatform.Linux, architecture);

    [Theory]
    [InlineData((ushort)62, true, Architecture.X64, true)]
    [InlineData((ushort)62, true, Architecture.Arm64, false)]
    [InlineData((ushort)183, true, Architecture.Arm64, true)]
    [InlineData((ushort)183, true, Architecture.X64, false)]
    [InlineData((ushort)62, false, Architecture.X64, false)]
    [InlineData((ushort)40, true, Architecture.X64, false)]
    public void An_elf_apphost_runs_only_on_linux_with_its_architecture(ushort machine, bool linux, Architecture architecture, bool runs) =>
        Assert.Equal(runs, ManagedProgram.RunsOn(machine, linux, architecture));

    [Fact]
    public void A_non_elf_apphost_is_not_run_on_linux()
    {
        Assert.False(ManagedProgram.RunsOn(null, linux: true, Architecture.X64));
        Assert.True(ManagedProgram.RunsOn(null, linux: false, Architecture.X64));
    }

    [Fact]
    public void The_elf_machine_is_read_from_the_header()
    {
        Assert.Equal((ushort)183, ManagedProgram.ElfMachine(Write("arm64", Elf(183))));
        Assert.Null(ManagedProgram.ElfMachine(Write("script", "#!/bin/sh\necho hello world, long enough\n"u8.ToArray())));
        Assert.Null(ManagedProgram.ElfMachine(Write("short", [0x7F, (byte)'E', (byte)'L', (byte)'F'])));
    }

    [Fact]
    public void An_apphost_built_for_another_architecture_runs_through_the_dotnet_host()
    {
        var foreign = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? (ushort)62 : (ushort)183;
        Write("Program.dll", [0]);
        Write("Program", Elf(foreign));
        var start = ManagedProgram.StartInfo(_folder.FullName, "Program", ["serve", "--port", "0"]);
        Assert.NotEqual(Path.Combine(_folder.FullName, "Program"), start.FileName);
        Assert.Equal([Path.Combine(_folder.FullName, "Program.dll"), "serve", "--port", "0"], start.ArgumentList);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_native_build_runs_directly_only_when_it_was_built_for_this_machine()
    {
        var here = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? (ushort)183 : (ushort)62;
        var foreign = here == 62 ? (ushort)183 : (ushort)62;
        var native = Write("Native", Elf(here));
        File.SetUnixFileMode(native, UnixFileMode.UserRead);

        var start = ManagedProgram.NativeStartInfo(native, ["serve"]);

        Assert.NotNull(start);
        Assert.Equal(native, start.FileName);
        Assert.Equal(["serve"], start.ArgumentList);
        Assert.True(File.GetUnixFileMode(native).HasFlag(UnixFileMode.UserExecute), "an installer may drop file modes; the module restores them");

        Assert.Null(ManagedProgram.NativeStartInfo(Write("Foreign", Elf(foreign)), []));
        Assert.Null(ManagedProgram.NativeStartInfo(Write("Script", "#!/bin/sh\necho hello world, long enough\n"u8.ToArray()), []));
        Assert.Null(ManagedProgram.NativeStartInfo(Path.Combine(_folder.FullName, "Absent"), []));
    }

    [Fact]
    public void A_missing_program_is_a_start_failure_naming_the_file()
    {
        var error = Assert.Throws<NitroEnclaveException>(() => ManagedProgram.StartInfo(_folder.FullName, "Absent", []));
        Assert.Equal(ReadyProcess.StartFailed, error.ErrorId);
        Assert.Contains("Absent.dll", error.Message, StringComparison.Ordinal);
    }

    private static byte[] Elf(ushort machine)
    {
        var header = new byte[64];
        header[0] = 0x7F;
        "ELF"u8.CopyTo(header.AsSpan(1));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(18), machine);
        return header;
    }

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(_folder.FullName, name);
        File.WriteAllBytes(path, content);
        return path;
    }
}
