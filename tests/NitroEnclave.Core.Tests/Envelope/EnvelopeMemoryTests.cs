using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

/// <summary>Runs alone: it counts allocations process-wide, which other tests running in parallel would inflate.</summary>
[CollectionDefinition(nameof(EnvelopeMemoryTests), DisableParallelization = true)]
public sealed class EnvelopeMemoryRunsAlone;

[Collection(nameof(EnvelopeMemoryTests))]
public sealed class EnvelopeMemoryTests
{
    [Fact]
    public async Task Large_files_stream_with_constant_memory()
    {
        const int size = 50 << 20;
        var provider = new InMemoryKeyProvider();
        var path = Path.GetTempFileName();
        try
        {
            var source = new PatternStream(size);
            long encryptAllocated;
            await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var before = GC.GetTotalAllocatedBytes(precise: true);
                await EnvelopeEncryptor.EncryptAsync(source, file, provider, new EnvelopeEncryptOptions { KeyId = "k" });
                encryptAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            }

            var sink = new PatternCheckingStream();
            long decryptAllocated;
            await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
            {
                var before = GC.GetTotalAllocatedBytes(precise: true);
                var result = await EnvelopeDecryptor.DecryptAsync(file, sink, provider);
                decryptAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
                Assert.Equal(size, result.PlaintextLength);
            }

            Assert.Equal(size, sink.Checked);
            // Frame buffers are a few hundred KiB; anything proportional to 50 MiB would blow these bounds.
            Assert.True(encryptAllocated < 8 << 20, $"encryption allocated {encryptAllocated} bytes");
            Assert.True(decryptAllocated < 8 << 20, $"decryption allocated {decryptAllocated} bytes");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
