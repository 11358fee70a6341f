using System.Management.Automation;

namespace NitroEnclave.PowerShell.Commands;

/// <summary>Resolves -Path (wildcards) and -LiteralPath arguments to file-system paths through the provider.</summary>
internal static class FilePathResolver
{
    /// <summary>
    /// Yields the files a -Path or -LiteralPath argument names. A name that resolves to nothing, or to something other
    /// than a file, is reported with <paramref name="writeError"/> and skipped.
    /// </summary>
    public static IEnumerable<string> Resolve(PSCmdlet cmdlet, string path, bool literal, Action<ErrorRecord> writeError)
    {
        var files = new List<string>();
        try
        {
            ProviderInfo provider;
            IEnumerable<string> resolved;
            if (literal)
            {
                resolved = [cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out provider, out _)];
            }
            else
            {
                resolved = cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath(path, out provider);
            }

            if (provider.Name != "FileSystem")
            {
                writeError(new ErrorRecord(new ArgumentException($"'{path}' is not a file-system path."), "NotFileSystemPath", ErrorCategory.InvalidArgument, path));
                return files;
            }

            foreach (var file in resolved)
            {
                if (File.Exists(file))
                {
                    files.Add(file);
                }
                else if (Directory.Exists(file))
                {
                    writeError(new ErrorRecord(new ArgumentException($"'{file}' is a directory, not a file."), "PathIsDirectory", ErrorCategory.InvalidArgument, file));
                }
                else
                {
                    writeError(new ErrorRecord(new FileNotFoundException($"Cannot find the file '{file}'.", file), "PathNotFound", ErrorCategory.ObjectNotFound, file));
                }
            }
        }
        catch (ItemNotFoundException ex)
        {
            writeError(new ErrorRecord(ex, "PathNotFound", ErrorCategory.ObjectNotFound, path));
        }

        return files;
    }
}
