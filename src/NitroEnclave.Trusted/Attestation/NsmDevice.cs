using System.Runtime.InteropServices;

namespace NitroEnclave.Attestation;

/// <summary>
/// The real Nitro Security Module, reached through /dev/nsm inside an enclave: one ioctl per message, with a
/// struct of four u64 (request address and length, response address and length).
/// </summary>
public sealed partial class NsmDevice : NitroSecurityModuleClient
{
    public const string DefaultPath = "/dev/nsm";

    /// <summary>_IOWR(0x0A, 0, 32 bytes): the same number on x86_64 and arm64.</summary>
    private const uint IoctlMessage = 0xC0200A00;
    private const int ReadWrite = 2;
    private const int NoSuchFile = 2;
    private const int NotPermitted = 1;
    private const int AccessDenied = 13;

    private readonly object _exchange = new();
    private int _descriptor;

    /// <summary>Opens the device; raises <see cref="AttestationErrors.NsmDeviceNotFound"/> outside an enclave.</summary>
    public NsmDevice(string path = DefaultPath)
    {
        ArgumentNullException.ThrowIfNull(path);
        Path = path;
        if (!OperatingSystem.IsLinux())
        {
            throw new NitroEnclaveException(AttestationErrors.NsmDeviceNotFound, ErrorKind.NotFound, $"The Nitro Security Module exists only inside a Linux Nitro Enclave; this is {RuntimeInformation.OSDescription}.");
        }

        _descriptor = Open(path, ReadWrite);
        if (_descriptor < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                NoSuchFile => new NitroEnclaveException(AttestationErrors.NsmDeviceNotFound, ErrorKind.NotFound, $"'{path}' does not exist: this process is not running inside a Nitro Enclave (use SimulatedNsm to run locally)."),
                NotPermitted or AccessDenied => new NitroEnclaveException(AttestationErrors.NsmDeviceAccessDenied, ErrorKind.PermissionDenied, $"'{path}' exists but this process may not open it (errno {errno})."),
                _ => new NitroEnclaveException(AttestationErrors.NsmDeviceError, ErrorKind.ResourceUnavailable, $"Cannot open '{path}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})."),
            };
        }
    }

    public string Path { get; }

    protected override unsafe byte[] Exchange(byte[] request)
    {
        var response = new byte[NsmCodec.MaxResponseSize];
        lock (_exchange)
        {
            ObjectDisposedException.ThrowIf(_descriptor < 0, this);
            fixed (byte* requestPointer = request)
            fixed (byte* responsePointer = response)
            {
                var message = new IoctlBuffers
                {
                    RequestAddress = (ulong)requestPointer,
                    RequestLength = (ulong)request.Length,
                    ResponseAddress = (ulong)responsePointer,
                    ResponseLength = (ulong)response.Length,
                };
                if (Ioctl(_descriptor, IoctlMessage, ref message) < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new NitroEnclaveException(AttestationErrors.NsmDeviceError, ErrorKind.ResourceUnavailable, $"The ioctl on '{Path}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
                }

                if (message.ResponseLength > (ulong)response.Length)
                {
                    throw new NitroEnclaveException(AttestationErrors.NsmMessageMalformed, ErrorKind.InvalidData, $"The driver reports a {message.ResponseLength}-byte response in a {response.Length}-byte buffer.");
                }

                return response.AsSpan(0, (int)message.ResponseLength).ToArray();
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_exchange)
        {
            if (_descriptor >= 0)
            {
                _ = Close(_descriptor);
                _descriptor = -1;
            }
        }

        base.Dispose(disposing);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int descriptor, nuint request, ref IoctlBuffers buffers);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoctlBuffers
    {
        public ulong RequestAddress;
        public ulong RequestLength;
        public ulong ResponseAddress;
        public ulong ResponseLength;
    }
}
