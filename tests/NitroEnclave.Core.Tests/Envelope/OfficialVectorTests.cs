using System.Text;
using System.Text.Json;
using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

/// <summary>
/// Known-answer tests: messages written by the official AWS Encryption SDK (published in its JavaScript repository's
/// decrypt tests) together with their data keys. Every tag and signature must verify, so passing proves the reader
/// agrees byte for byte with the official implementation.
/// </summary>
public sealed class OfficialVectorTests
{
    public static TheoryData<string> V2Names() => Names("official-v2-vectors.json");

    public static TheoryData<string> V1Names() => Names("official-v1-vectors.json");

    [Theory]
    [MemberData(nameof(V2Names))]
    public async Task Version_2_vectors_decrypt_as_published(string name)
    {
        var vector = Find("official-v2-vectors.json", name);
        var message = Base64(vector.GetProperty("ciphertext").GetString()!);
        var decryptor = new StaticKeyDecryptor(Convert.FromBase64String(vector.GetProperty("dataKey").GetString()!));
        var expect = vector.GetProperty("expect").GetString();

        if (expect != "ok")
        {
            var (error, released) = await DecryptFailsAsync(message, decryptor);
            Assert.Equal(expect, error.ErrorId);
            Assert.Empty(released);
            return;
        }

        using var output = new MemoryStream();
        var result = await EnvelopeDecryptor.DecryptAsync(new MemoryStream(message), output, decryptor);

        Assert.Equal(vector.GetProperty("plaintext").GetString(), Encoding.UTF8.GetString(output.ToArray()));
        Assert.Equal(2, result.Header.Version);
        Assert.Equal(Convert.FromBase64String(vector.GetProperty("messageId").GetString()!), result.Header.MessageId);
        var context = vector.GetProperty("context").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Assert.Equal(context, result.EncryptionContext);

        using var keys = MessageKeysFor(result.Header, vector);
        Assert.Equal(Convert.FromBase64String(vector.GetProperty("commitment").GetString()!), keys.CommitKey);
    }

    [Theory]
    [MemberData(nameof(V1Names))]
    public async Task Version_1_vectors_decrypt_with_the_zero_data_key(string name)
    {
        var vector = Find("official-v1-vectors.json", name);
        var message = Base64(vector.GetProperty("ciphertext").GetString()!);
        var suite = AlgorithmSuite.Get((ushort)((message[2] << 8) | message[3]));
        var decryptor = new StaticKeyDecryptor(new byte[suite.KeyLength]);
        var expect = vector.GetProperty("expect").GetString();

        if (expect != "ok")
        {
            var (error, _) = await DecryptFailsAsync(message, decryptor);
            Assert.Equal(expect, error.ErrorId);
            var (_, strict) = await DecryptFailsAsync(message, decryptor, new EnvelopeDecryptOptions { VerifyBeforeRelease = true });
            Assert.Empty(strict);
            return;
        }

        using var output = new MemoryStream();
        var result = await EnvelopeDecryptor.DecryptAsync(new MemoryStream(message), output, decryptor);
        Assert.Equal(1, result.Header.Version);
        Assert.Equal(output.Length, result.PlaintextLength);
        if (vector.TryGetProperty("context", out var context))
        {
            Assert.Equal(context.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), result.EncryptionContext);
        }

        // The same bytes with any tag byte changed no longer decrypt: the vector really is checked, not skipped.
        var altered = (byte[])message.Clone();
        altered[result.Header.Length - 1] ^= 1;
        var (error2, _) = await DecryptFailsAsync(altered, decryptor);
        Assert.Equal(EnvelopeErrors.HeaderAuthFailed, error2.ErrorId);
    }

    [Fact]
    public async Task The_signed_zero_key_vector_holds_the_expected_text()
    {
        var vector = Find("official-v1-vectors.json", "0x0378 signed, 4 bytes in a 4 KiB frame");
        var message = Base64(vector.GetProperty("ciphertext").GetString()!);

        var plaintext = await DecryptAsync(message, new StaticKeyDecryptor(new byte[32]));

        Assert.Equal(4, plaintext.Length);
        Assert.Equal(4096u, (await EnvelopeDecryptor.ReadHeaderAsync(new MemoryStream(message), new StaticKeyDecryptor(new byte[32]))).FrameLength);
    }

    internal static string DataPath(string file) => Path.Combine(AppContext.BaseDirectory, "data", "envelope", file);

    private static MessageKeys MessageKeysFor(EnvelopeHeader header, JsonElement vector) =>
        MessageKeys.Derive(header.Suite, Convert.FromBase64String(vector.GetProperty("dataKey").GetString()!), header.MessageId);

    private static TheoryData<string> Names(string file)
    {
        var data = new TheoryData<string>();
        foreach (var vector in Load(file))
        {
            data.Add(vector.GetProperty("name").GetString()!);
        }

        return data;
    }

    private static JsonElement Find(string file, string name) => Load(file).Single(v => v.GetProperty("name").GetString() == name);

    private static List<JsonElement> Load(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(DataPath(file)));
        return document.RootElement.GetProperty("vectors").EnumerateArray().Select(v => v.Clone()).ToList();
    }

    private static byte[] Base64(string text) => Convert.FromBase64String(text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '='));
}
