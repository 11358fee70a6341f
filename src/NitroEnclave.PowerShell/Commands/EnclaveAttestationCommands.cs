using System.Collections;
using System.Management.Automation;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using NitroEnclave.Attestation;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>
/// Shared input handling for the attestation cmdlets: documents as bytes, base64 text, files (-Path, -LiteralPath or
/// FileInfo), AttestationDocument objects, or any object with a Document property (such as Get-EnclaveAttestation's).
/// </summary>
public abstract class EnclaveAttestationCommandBase : NitroEnclaveCmdlet
{
    protected const string DocumentSet = "Document";
    protected const string PathSet = "Path";
    protected const string LiteralPathSet = "LiteralPath";

    /// <summary>The document: bytes (raw CBOR), base64 text, or an object with a Document property.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = DocumentSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public object Document { get; set; } = null!;

    /// <summary>Document files, raw CBOR or base64 text; wildcards allowed.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    protected override void ProcessRecord()
    {
        if (ParameterSetName == DocumentSet)
        {
            Handle(() => FromObject(Document, depth: 0), Document);
            return;
        }

        var literal = ParameterSetName == LiteralPathSet;
        foreach (var item in literal ? LiteralPath : Path)
        {
            foreach (var file in FilePathResolver.Resolve(this, item, literal, WriteError))
            {
                Handle(() => AttestationDocument.Load(file), file);
            }
        }
    }

    /// <summary>Does the cmdlet's work on one parsed document.</summary>
    protected abstract void ProcessDocument(AttestationDocument document);

    private void Handle(Func<AttestationDocument> read, object target)
    {
        AttestationDocument document;
        try
        {
            document = read();
        }
        catch (Exception ex) when (ex is NitroEnclaveException or IOException or UnauthorizedAccessException)
        {
            WriteItemError(ex, target is PSObject wrapped ? wrapped.BaseObject : target);
            return;
        }

        ProcessDocument(document);
    }

    private static AttestationDocument FromObject(object input, int depth)
    {
        var value = input is PSObject wrapped ? wrapped.BaseObject : input;
        switch (value)
        {
            case AttestationDocument document:
                return document;
            case byte[] bytes:
                return AttestationDocument.ParseBinaryOrBase64(bytes);
            case string text:
                return AttestationDocument.ParseBase64(text);
            case FileInfo file:
                return AttestationDocument.Load(file.FullName);
            case object[] items when items.Length > 0 && items.All(i => (i is PSObject p ? p.BaseObject : i) is byte):
                return AttestationDocument.Parse(items.Select(i => (byte)(i is PSObject p ? p.BaseObject : i)).ToArray());
        }

        // Objects from other cmdlets (Get-EnclaveAttestation) carry the document in a Document property.
        if (depth == 0 && PSObject.AsPSObject(input).Properties["Document"]?.Value is { } inner)
        {
            return FromObject(inner, depth + 1);
        }

        throw new NitroEnclaveException(
            AttestationErrors.InputInvalid,
            ErrorKind.InvalidArgument,
            $"A {value.GetType().Name} is not an attestation document: give bytes, base64 text, a file, or an object with a Document property.");
    }
}

/// <summary>
/// <para type="synopsis">Verifies Nitro attestation documents: signature, certificate chain to a trusted root, field rules and expected values.</para>
/// <para type="description">Returns one result per document; IsValid is true only when no check failed, and Failures names each failed rule.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "EnclaveAttestation", DefaultParameterSetName = DocumentSet)]
[OutputType(typeof(AttestationResult))]
public sealed partial class TestEnclaveAttestationCommand : EnclaveAttestationCommandBase
{
    private AttestationVerifier _verifier = null!;
    private AttestationExpectations _expectations = null!;

    /// <summary>Roots to trust instead of the AWS Nitro root: X509Certificate2 objects or PEM file paths.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[]? TrustedRoot { get; set; }

    /// <summary>Expected PCRs: a hashtable of index (or 'PCRn') to hex, or the object Get-EnclavePcr returns.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? ExpectedPcr { get; set; }

    /// <summary>The nonce sent with the attestation request: bytes or hex text.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Nonce { get; set; }

    [Parameter]
    [ValidateNotNull]
    public byte[]? UserData { get; set; }

    [Parameter]
    [ValidateNotNull]
    public byte[]? PublicKey { get; set; }

    /// <summary>The time to check the certificates at; now by default.</summary>
    [Parameter]
    public DateTimeOffset? At { get; set; }

    /// <summary>The oldest a document may be at the verification time.</summary>
    [Parameter]
    public TimeSpan? MaxAge { get; set; }

    protected override void BeginProcessing()
    {
        try
        {
            _verifier = TrustedRoot is null ? new AttestationVerifier() : new AttestationVerifier(ReadRoots(TrustedRoot));
            _expectations = new AttestationExpectations
            {
                Nonce = Nonce is null ? null : ReadBytes(Nonce, "Nonce"),
                UserData = UserData,
                PublicKey = PublicKey,
                MaxAge = MaxAge,
            };
            if (ExpectedPcr is not null)
            {
                AddExpectedPcrs(ExpectedPcr);
            }
        }
        catch (NitroEnclaveException ex)
        {
            ThrowTerminatingError(ToErrorRecord(ex, null));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ToErrorRecord(new NitroEnclaveException(AttestationErrors.TrustedRootInvalid, ErrorKind.InvalidArgument, "Cannot read the trusted root: " + ex.Message, ex), null));
        }
    }

    protected override void ProcessDocument(AttestationDocument document) => WriteObject(_verifier.Verify(document, _expectations, At));

    private List<X509Certificate2> ReadRoots(object[] roots)
    {
        var certificates = new List<X509Certificate2>();
        foreach (var root in roots)
        {
            switch (root is PSObject wrapped ? wrapped.BaseObject : root)
            {
                case X509Certificate2 certificate:
                    certificates.Add(certificate);
                    break;
                case FileInfo file:
                    certificates.AddRange(AttestationVerifier.ReadPemCertificates(File.ReadAllText(file.FullName)));
                    break;
                case string path:
                    var resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
                    certificates.AddRange(AttestationVerifier.ReadPemCertificates(File.ReadAllText(resolved)));
                    break;
                default:
                    throw new NitroEnclaveException(AttestationErrors.TrustedRootInvalid, ErrorKind.InvalidArgument, "-TrustedRoot takes X509Certificate2 objects or paths to PEM files.");
            }
        }

        return certificates;
    }

    private void AddExpectedPcrs(object expected)
    {
        var value = expected is PSObject wrapped ? wrapped.BaseObject : expected;
        if (value is IDictionary table)
        {
            foreach (DictionaryEntry entry in table)
            {
                _expectations.ExpectPcr(ReadIndex(entry.Key), ReadHex(entry.Value, entry.Key));
            }

            return;
        }

        // Get-EnclavePcr's objects (and anything shaped like them): PCR0, PCR1, PCR2, PCR8 properties.
        var found = false;
        foreach (var property in PSObject.AsPSObject(expected).Properties)
        {
            var match = PcrName().Match(property.Name);
            if (match.Success && property.Value is not null)
            {
                _expectations.ExpectPcr(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), ReadHex(property.Value, property.Name));
                found = true;
            }
        }

        if (!found)
        {
            throw ExpectationInvalid("-ExpectedPcr takes a hashtable of PCR index to hex value, or an object with PCR0, PCR1, ... properties such as Get-EnclavePcr returns.");
        }
    }

    private static int ReadIndex(object key)
    {
        var text = (key is PSObject wrapped ? wrapped.BaseObject : key)?.ToString() ?? string.Empty;
        var match = PcrIndex().Match(text);
        return match.Success && int.TryParse(match.Groups[1].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            ? index
            : throw ExpectationInvalid($"'{text}' is not a PCR index (0 to 31, or PCR0 to PCR31).");
    }

    private static string ReadHex(object? value, object name) => (value is PSObject wrapped ? wrapped.BaseObject : value) switch
    {
        string hex => hex,
        byte[] bytes => Convert.ToHexString(bytes),
        _ => throw ExpectationInvalid($"The expected value of {name} is not hex text."),
    };

    private static byte[] ReadBytes(object value, string parameter)
    {
        switch (value is PSObject wrapped ? wrapped.BaseObject : value)
        {
            case byte[] bytes:
                return bytes;
            case string hex when hex.Length % 2 == 0 && hex.All(Uri.IsHexDigit):
                return Convert.FromHexString(hex);
            default:
                throw ExpectationInvalid($"-{parameter} takes bytes or hex text.");
        }
    }

    private static NitroEnclaveException ExpectationInvalid(string message) => new(AttestationErrors.ExpectationInvalid, ErrorKind.InvalidArgument, message);

    [GeneratedRegex("^PCR([0-9]{1,2})$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PcrName();

    [GeneratedRegex("^(?:PCR)?([0-9]{1,2})$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PcrIndex();
}

/// <summary>
/// <para type="synopsis">Shows what a Nitro attestation document contains, without judging it.</para>
/// </summary>
[Cmdlet(VerbsData.ConvertFrom, "EnclaveAttestation", DefaultParameterSetName = DocumentSet)]
[OutputType(typeof(AttestationDocument))]
public sealed class ConvertFromEnclaveAttestationCommand : EnclaveAttestationCommandBase
{
    protected override void ProcessDocument(AttestationDocument document) => WriteObject(document);
}
