using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NitroEnclave.Envelope;
using static NitroEnclave.Tests.Envelope.EnvelopeTestHelpers;

namespace NitroEnclave.Tests.Envelope;

public sealed class FernetAndLegacyTests
{
    public static TheoryData<string> InvalidCases()
    {
        var data = new TheoryData<string>();
        foreach (var vector in Vectors("invalid.json"))
        {
            data.Add(vector.GetProperty("desc").GetString()!);
        }

        return data;
    }

    [Fact]
    public void The_verify_vectors_decrypt_within_their_time_to_live()
    {
        foreach (var vector in Vectors("verify.json"))
        {
            var key = Fernet.ParseKey(vector.GetProperty("secret").GetString()!);
            var now = DateTimeOffset.Parse(vector.GetProperty("now").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            var ttl = TimeSpan.FromSeconds(vector.GetProperty("ttl_sec").GetInt32());
            var token = vector.GetProperty("token").GetString()!;

            Assert.Equal(vector.GetProperty("src").GetString(), Encoding.UTF8.GetString(Fernet.Decrypt(token, key, ttl, now)));
            Assert.Equal(vector.GetProperty("src").GetString(), Encoding.UTF8.GetString(Fernet.Decrypt(token, key)));

            var expired = Assert.Throws<NitroEnclaveException>(() => Fernet.Decrypt(token, key, ttl, now + ttl + TimeSpan.FromSeconds(1)));
            Assert.Equal(EnvelopeErrors.FernetTokenExpired, expired.ErrorId);
            var future = Assert.Throws<NitroEnclaveException>(() => Fernet.Decrypt(token, key, ttl, now - TimeSpan.FromMinutes(5)));
            Assert.Equal(EnvelopeErrors.FernetInvalidToken, future.ErrorId);
            Assert.Equal(new DateTimeOffset(1985, 10, 26, 8, 20, 0, TimeSpan.Zero), Fernet.ReadTimestamp(token));
        }
    }

    [Theory]
    [MemberData(nameof(InvalidCases))]
    public void Every_invalid_vector_fails_with_a_typed_error(string description)
    {
        var vector = Vectors("invalid.json").Single(v => v.GetProperty("desc").GetString() == description);
        var key = Fernet.ParseKey(vector.GetProperty("secret").GetString()!);
        TimeSpan? ttl = vector.TryGetProperty("ttl_sec", out var t) ? TimeSpan.FromSeconds(t.GetInt32()) : null;
        DateTimeOffset? now = vector.TryGetProperty("now", out var n) ? DateTimeOffset.Parse(n.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : null;

        var error = Assert.Throws<NitroEnclaveException>(() => Fernet.Decrypt(vector.GetProperty("token").GetString()!, key, ttl, now));

        Assert.Contains(error.ErrorId, new[] { EnvelopeErrors.FernetInvalidToken, EnvelopeErrors.FernetTokenExpired });
    }

    [Fact]
    public void Keys_are_accepted_in_both_base64_alphabets_and_checked()
    {
        var raw = Enumerable.Range(0, 32).Select(i => (byte)(250 - i)).ToArray();
        Assert.Equal(raw, Fernet.ParseKey(Convert.ToBase64String(raw)));
        Assert.Equal(raw, Fernet.ParseKey(Convert.ToBase64String(raw).Replace('+', '-').Replace('/', '_')));
        Assert.Equal(EnvelopeErrors.FernetInvalidKey, Assert.Throws<NitroEnclaveException>(() => Fernet.ParseKey("c2hvcnQ=")).ErrorId);
        Assert.Equal(EnvelopeErrors.FernetInvalidKey, Assert.Throws<NitroEnclaveException>(() => Fernet.ParseKey("not base64 at all!")).ErrorId);
    }

    [Fact]
    public void A_token_with_another_key_fails()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var token = MakeToken(key, Bytes(100));
        Assert.Equal(Bytes(100), Fernet.Decrypt(token, key));

        var error = Assert.Throws<NitroEnclaveException>(() => Fernet.Decrypt(token, RandomNumberGenerator.GetBytes(32)));
        Assert.Equal(EnvelopeErrors.FernetInvalidToken, error.ErrorId);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(100_000)]
    public async Task Legacy_files_decrypt_with_the_data_key_from_the_key_provider(int length)
    {
        var provider = new InMemoryKeyProvider();
        var plaintext = Bytes(length);
        var file = await MakeLegacyFileAsync(provider, plaintext);

        using var output = new MemoryStream();
        var result = await LegacyEncryptedFile.DecryptAsync(new MemoryStream(file), output, provider);

        Assert.Equal(plaintext, output.ToArray());
        Assert.Equal(length, result.PlaintextLength);
        Assert.NotNull(result.Timestamp);
        Assert.Equal(EncryptedFileKind.LegacyFernet, EncryptedFileFormat.Detect(file));
    }

    [Fact]
    public async Task Broken_legacy_files_fail_with_typed_errors()
    {
        var provider = new InMemoryKeyProvider();
        var file = await MakeLegacyFileAsync(provider, Bytes(64));

        async Task<string> Fails(byte[] bytes, int maxToken = LegacyEncryptedFile.DefaultMaxTokenLength)
        {
            using var output = new MemoryStream();
            var error = await Assert.ThrowsAsync<NitroEnclaveException>(() => LegacyEncryptedFile.DecryptAsync(new MemoryStream(bytes), output, provider, maxToken));
            Assert.Empty(output.ToArray());
            return error.ErrorId;
        }

        Assert.Equal(EnvelopeErrors.LegacyMalformed, await Fails([0, 0]));
        Assert.Equal(EnvelopeErrors.LegacyMalformed, await Fails([0, 0, 0, 0, 1]));
        Assert.Equal(EnvelopeErrors.LegacyMalformed, await Fails([0xFF, 0, 0, 0, 1]));
        var blobLength = (int)BinaryPrimitives.ReadUInt32BigEndian(file);
        Assert.Equal(EnvelopeErrors.LegacyMalformed, await Fails(file[..(4 + blobLength)]));
        Assert.Equal(EnvelopeErrors.LegacyMalformed, await Fails(file[..(2 + blobLength)]));
        var alteredBlob = (byte[])file.Clone();
        alteredBlob[10] ^= 1;
        Assert.Equal(EnvelopeErrors.KmsInvalidCiphertext, await Fails(alteredBlob));
        var alteredToken = (byte[])file.Clone();
        alteredToken[^10] = alteredToken[^10] == (byte)'A' ? (byte)'B' : (byte)'A';
        Assert.Equal(EnvelopeErrors.FernetInvalidToken, await Fails(alteredToken));
        Assert.Equal(EnvelopeErrors.LimitExceeded, await Fails(file, maxToken: 32));
    }

    [Fact]
    public async Task Format_detection_tells_messages_legacy_files_and_garbage_apart()
    {
        var provider = new InMemoryKeyProvider();
        var (v2, _) = await EncryptAsync(provider, Bytes(10));
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var v1 = TestMessageWriter.Write(0x0378, dataKey, Context, c => provider.Wrap(dataKey, c), Bytes(10), 64);
        var legacy = await MakeLegacyFileAsync(provider, Bytes(10));

        Assert.Equal(EncryptedFileKind.EncryptionSdkMessage, EncryptedFileFormat.Detect(v2));
        Assert.Equal(EncryptedFileKind.EncryptionSdkMessage, EncryptedFileFormat.Detect(v1));
        Assert.Equal(EncryptedFileKind.LegacyFernet, EncryptedFileFormat.Detect(legacy));
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect([]));
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect("hello world, plain text"u8));
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect(Encoding.ASCII.GetBytes(Convert.ToBase64String(v2))));
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect([0x01, 0x80, 0x05, 0x78])); // version 2 suite in a version 1 header
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect([0x02, 0x03, 0x78, 0x00])); // version 1 suite in a version 2 header
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect(legacy.AsSpan(0, 10)));
        Assert.Equal(EncryptedFileKind.Unknown, EncryptedFileFormat.Detect(Bytes(4096, seed: 7)));

        var stream = new MemoryStream([1, 2, .. legacy]) { Position = 2 };
        Assert.Equal(EncryptedFileKind.LegacyFernet, await EncryptedFileFormat.DetectAsync(stream));
        Assert.Equal(2, stream.Position);
    }

    /// <summary>Writes a file exactly as the reference sample does: u32 BE blob length, blob, Fernet token.</summary>
    internal static async Task<byte[]> MakeLegacyFileAsync(IDataKeyProvider provider, byte[] plaintext)
    {
        using var dataKey = await provider.GenerateDataKeyAsync("alias/legacy", 32, new Dictionary<string, string>(), CancellationToken.None);
        var token = Encoding.ASCII.GetBytes(MakeToken(dataKey.Plaintext, plaintext));
        var blob = dataKey.Encrypted.Ciphertext;
        var file = new byte[4 + blob.Length + token.Length];
        BinaryPrimitives.WriteUInt32BigEndian(file, (uint)blob.Length);
        blob.CopyTo(file, 4);
        token.CopyTo(file, 4 + blob.Length);
        return file;
    }

    /// <summary>A Fernet token built from the specification: 0x80, timestamp, IV, AES-128-CBC, HMAC-SHA256.</summary>
    private static string MakeToken(byte[] key, byte[] plaintext)
    {
        using var aes = Aes.Create();
        aes.Key = key[16..];
        var iv = RandomNumberGenerator.GetBytes(16);
        var ciphertext = aes.EncryptCbc(plaintext, iv, PaddingMode.PKCS7);
        var body = new byte[25 + ciphertext.Length];
        body[0] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(body.AsSpan(1), (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        iv.CopyTo(body, 9);
        ciphertext.CopyTo(body, 25);
        var mac = HMACSHA256.HashData(key[..16], body);
        return Convert.ToBase64String([.. body, .. mac]).Replace('+', '-').Replace('/', '_');
    }

    private static List<JsonElement> Vectors(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "fernet", file)));
        return document.RootElement.EnumerateArray().Select(v => v.Clone()).ToList();
    }
}
