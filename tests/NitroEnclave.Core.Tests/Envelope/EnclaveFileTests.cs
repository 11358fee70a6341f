using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

/// <summary>Whole-file encryption: default names, and that no failure leaves a destination or a temporary file.</summary>
public sealed class EnclaveFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("enclavefile-core-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private string[] Files() =>
        [.. Directory.EnumerateFiles(_dir.FullName, "*", new EnumerationOptions { AttributesToSkip = 0 }).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private static EnvelopeEncryptOptions Options(int frameLength = 1024) => new() { KeyId = InMemoryKeyProvider.DefaultArn, FrameLength = frameLength };

    [Theory]
    [InlineData("photo.jpg", null, "photo.jpg.enc", "photo.jpg.decrypted")]
    [InlineData("photo.jpg.enc", null, "photo.jpg.enc.enc", "photo.jpg")]
    [InlineData("photo.jpg.ENC", "out", "photo.jpg.ENC.enc", "photo.jpg")]
    [InlineData("photo.jpg.encrypted", null, "photo.jpg.encrypted.enc", "photo.jpg")]
    [InlineData("data.bin", null, "data.bin.enc", "data.bin.decrypted")]
    [InlineData("data.bin", "out", "data.bin.enc", "data.bin")]
    [InlineData(".enc", null, ".enc.enc", ".enc.decrypted")]
    public void Default_destinations_add_enc_and_take_it_off_again_without_naming_the_source(string name, string? folder, string protectedName, string unprotectedName)
    {
        var source = PathOf(name);
        var target = folder is null ? null : PathOf(folder);
        var directory = target ?? _dir.FullName;

        Assert.Equal(Path.Combine(directory, protectedName), EnclaveFile.DefaultProtectedPath(source, target));
        Assert.Equal(Path.Combine(directory, unprotectedName), EnclaveFile.DefaultUnprotectedPath(source, target));
    }

    [Fact]
    public async Task Files_round_trip_and_report_progress_up_to_the_whole_length()
    {
        var plaintext = Bytes(5000);
        File.WriteAllBytes(PathOf("a.bin"), plaintext);
        var provider = new InMemoryKeyProvider();
        var reported = new List<long>();

        var written = await EnclaveFile.ProtectAsync(PathOf("a.bin"), PathOf("a.bin.enc"), provider, Options(), bytesRead: reported.Add);
        var read = await EnclaveFile.UnprotectAsync(PathOf("a.bin.enc"), PathOf("b.bin"), provider);

        Assert.Equal(plaintext, File.ReadAllBytes(PathOf("b.bin")));
        Assert.Equal(5000, reported[^1]);
        Assert.Equal(new FileInfo(PathOf("a.bin.enc")).Length, written.CiphertextBytes);
        Assert.Equal(InMemoryKeyProvider.DefaultArn, read.KeyArn);
        Assert.Equal(EncryptedFileKind.EncryptionSdkMessage, read.Format);
        Assert.Empty(written.EncryptionContext);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf("b.bin")));
        }
    }

    [Fact]
    public async Task Cancelling_in_the_middle_leaves_neither_the_destination_nor_a_temporary_file()
    {
        File.WriteAllBytes(PathOf("a.bin"), Bytes(100_000));
        File.WriteAllText(PathOf("a.bin.enc"), "existing");
        using var cancel = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EnclaveFile.ProtectAsync(PathOf("a.bin"), PathOf("a.bin.enc"), new InMemoryKeyProvider(), Options(),
            overwrite: true, bytesRead: read => { if (read > 10_000) { cancel.Cancel(); } }, cancellationToken: cancel.Token));

        Assert.Equal(["a.bin", "a.bin.enc"], Files());
        Assert.Equal("existing", File.ReadAllText(PathOf("a.bin.enc")));
    }

    [Fact]
    public async Task A_failed_decryption_removes_its_temporary_file_and_keeps_the_existing_destination()
    {
        var provider = new InMemoryKeyProvider();
        File.WriteAllBytes(PathOf("a.bin"), Bytes(10_000));
        await EnclaveFile.ProtectAsync(PathOf("a.bin"), PathOf("a.bin.enc"), provider, Options());
        var message = File.ReadAllBytes(PathOf("a.bin.enc"));
        message[^300] ^= 1;
        File.WriteAllBytes(PathOf("a.bin.enc"), message);

        var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => EnclaveFile.UnprotectAsync(PathOf("a.bin.enc"), PathOf("a.bin"), provider, overwrite: true));

        Assert.Equal(EnvelopeErrors.FrameAuthFailed, error.ErrorId);
        Assert.Equal(Bytes(10_000), File.ReadAllBytes(PathOf("a.bin")));
        Assert.Equal(["a.bin", "a.bin.enc"], Files());
    }

    [Fact]
    public async Task Destinations_that_exist_are_the_source_or_are_folders_are_refused_before_any_key_is_made()
    {
        var provider = new InMemoryKeyProvider();
        File.WriteAllBytes(PathOf("a.bin"), Bytes(10));
        File.WriteAllText(PathOf("taken"), "x");
        Directory.CreateDirectory(PathOf("folder"));

        async Task<string> Refused(string destination, bool overwrite = false) =>
            (await Assert.ThrowsAsync<NitroEnclaveException>(() => EnclaveFile.ProtectAsync(PathOf("a.bin"), destination, provider, Options(), overwrite))).ErrorId;

        Assert.Equal(EnclaveFileErrors.DestinationExists, await Refused(PathOf("taken")));
        Assert.Equal(EnclaveFileErrors.DestinationIsSource, await Refused(PathOf("a.bin"), overwrite: true));
        Assert.Equal(EnclaveFileErrors.DestinationIsFolder, await Refused(PathOf("folder"), overwrite: true));
        Assert.Equal(0, provider.GenerateCalls);
        Assert.Equal(EnclaveFileErrors.UnknownFormat,
            (await Assert.ThrowsAsync<NitroEnclaveException>(() => EnclaveFile.UnprotectAsync(PathOf("taken"), PathOf("out"), provider))).ErrorId);
        Assert.Equal(["a.bin", "taken"], Files());
    }
}
