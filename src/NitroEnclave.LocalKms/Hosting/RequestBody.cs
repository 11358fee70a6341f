using Microsoft.AspNetCore.Http;

namespace NitroEnclave.LocalKms.Hosting;

/// <summary>Reads a request body up to a limit, so no request can make the endpoint hold more.</summary>
internal static class RequestBody
{
    public static async Task<byte[]> ReadAsync(HttpRequest request, int maxBytes, Func<Exception> tooLarge)
    {
        if (request.ContentLength > maxBytes)
        {
            throw tooLarge();
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                throw tooLarge();
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
