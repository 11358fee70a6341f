using Amazon.KeyManagementService.Model;
using Amazon.Runtime;

namespace NitroEnclave.Aws;

/// <summary>
/// Describes each request an AWS SDK client sends, for -Debug: the operation, the key it names and the endpoint. Only
/// those: never the encryption context, a ciphertext, a policy or anything the answer holds.
/// </summary>
public static class AwsRequestTrace
{
    /// <summary>Calls <paramref name="trace"/> before each request the client sends (on the SDK's thread).</summary>
    public static void Attach(AmazonServiceClient client, Action<string> trace)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(trace);
        client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs request)
            {
                trace(Describe(request.ServiceName, request.Request, request.Endpoint));
            }
        };
    }

    internal static string Describe(string service, AmazonWebServiceRequest request, Uri? endpoint)
    {
        var operation = request.GetType().Name;
        operation = operation.EndsWith("Request", StringComparison.Ordinal) ? operation[..^"Request".Length] : operation;
        var key = KeyOf(request) is { Length: > 0 } keyId ? $" key {keyId}" : string.Empty;
        var name = request.GetType().Namespace == typeof(ListAliasesRequest).Namespace ? "KMS" : service;
        return $"{name} {operation}{key} at {endpoint?.ToString() ?? "the default endpoint"}";
    }

    private static string? KeyOf(AmazonWebServiceRequest request) => request switch
    {
        GenerateDataKeyRequest r => r.KeyId,
        DecryptRequest r => r.KeyId,
        DescribeKeyRequest r => r.KeyId,
        GetKeyPolicyRequest r => r.KeyId,
        PutKeyPolicyRequest r => r.KeyId,
        ListAliasesRequest r => r.KeyId,
        _ => null,
    };
}
