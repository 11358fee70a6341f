using System.Text;
using System.Text.Json;

namespace NitroEnclave.EnclaveHost;

/// <summary>
/// One JSON object per line on standard error: time, level, event and plain fields. Callers pass only what is safe to
/// record (operations, codes, sizes, timings); credentials, key material and file contents are never given to it.
/// </summary>
public sealed class StructuredLog(TextWriter output, bool verbose = false)
{
    private readonly object _gate = new();

    public static StructuredLog Silent { get; } = new(TextWriter.Null);

    public void Info(string eventName, params (string Key, object? Value)[] fields) => Write("info", eventName, fields);

    public void Warn(string eventName, params (string Key, object? Value)[] fields) => Write("warn", eventName, fields);

    public void Error(string eventName, params (string Key, object? Value)[] fields) => Write("error", eventName, fields);

    public void Debug(string eventName, params (string Key, object? Value)[] fields)
    {
        if (verbose)
        {
            Write("debug", eventName, fields);
        }
    }

    private void Write(string level, string eventName, (string Key, object? Value)[] fields)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("ts", DateTimeOffset.UtcNow);
            json.WriteString("level", level);
            json.WriteString("event", eventName);
            foreach (var (key, value) in fields)
            {
                switch (value)
                {
                    case null:
                        json.WriteNull(key);
                        break;
                    case int i:
                        json.WriteNumber(key, i);
                        break;
                    case long l:
                        json.WriteNumber(key, l);
                        break;
                    case double d:
                        json.WriteNumber(key, Math.Round(d, 3));
                        break;
                    case bool b:
                        json.WriteBoolean(key, b);
                        break;
                    default:
                        json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                        break;
                }
            }

            json.WriteEndObject();
        }

        var line = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        lock (_gate)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }
}
