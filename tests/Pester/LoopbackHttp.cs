// Loopback test doubles for the AWS credential and region sources the SDK reaches over HTTP (IMDSv2, the container
// credentials endpoint) and for a KMS that never answers. Compiled by the Pester suites with Add-Type.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace NitroEnclaveTests
{
    /// <summary>One request as the double received it.</summary>
    public sealed class LoopbackRequest
    {
        public string Method { get; set; } = "";
        public string Path { get; set; } = "";
        public Dictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public string Body { get; set; } = "";
    }

    /// <summary>
    /// A small HTTP/1.1 server on 127.0.0.1: each "METHOD /path" answers with its status and body (404 otherwise), or,
    /// when <see cref="Silent"/>, it reads the request and never answers. Every request is recorded.
    /// </summary>
    public sealed class LoopbackHttp : IDisposable
    {
        private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly ConcurrentDictionary<string, Tuple<int, string>> _routes = new ConcurrentDictionary<string, Tuple<int, string>>();
        private readonly List<TcpClient> _held = new List<TcpClient>();

        public LoopbackHttp(bool silent)
        {
            Silent = silent;
            _listener.Start();
            Task.Run(AcceptLoop);
        }

        public bool Silent { get; }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public string Url => "http://127.0.0.1:" + Port;

        public ConcurrentQueue<LoopbackRequest> Requests { get; } = new ConcurrentQueue<LoopbackRequest>();

        public void Route(string method, string path, int status, string body) => _routes[method + " " + path] = Tuple.Create(status, body);

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_held)
            {
                foreach (var client in _held)
                {
                    client.Dispose();
                }
            }
        }

        private async Task AcceptLoop()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync().ConfigureAwait(false);
                }
                catch (Exception)
                {
                    return;
                }

                _ = Task.Run(() => Serve(client));
            }
        }

        private async Task Serve(TcpClient client)
        {
            try
            {
                var stream = client.GetStream();
                while (true)
                {
                    var request = await Read(stream).ConfigureAwait(false);
                    if (request == null)
                    {
                        client.Dispose();
                        return;
                    }

                    Requests.Enqueue(request);
                    if (Silent)
                    {
                        lock (_held)
                        {
                            _held.Add(client);
                        }

                        return;
                    }

                    Tuple<int, string> answer;
                    if (!_routes.TryGetValue(request.Method + " " + request.Path, out answer))
                    {
                        answer = Tuple.Create(404, "");
                    }

                    var body = Encoding.UTF8.GetBytes(answer.Item2);
                    var head = Encoding.ASCII.GetBytes("HTTP/1.1 " + answer.Item1 + " X\r\nContent-Type: " + (answer.Item2.StartsWith("{") ? "application/json" : "text/plain")
                        + "\r\nContent-Length: " + body.Length + "\r\n\r\n");
                    await stream.WriteAsync(head, 0, head.Length).ConfigureAwait(false);
                    await stream.WriteAsync(body, 0, body.Length).ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                client.Dispose();
            }
        }

        private static async Task<LoopbackRequest> Read(NetworkStream stream)
        {
            var buffer = new List<byte>();
            var one = new byte[1];
            while (buffer.Count < 4 || !(buffer[buffer.Count - 4] == '\r' && buffer[buffer.Count - 3] == '\n' && buffer[buffer.Count - 2] == '\r' && buffer[buffer.Count - 1] == '\n'))
            {
                if (await stream.ReadAsync(one, 0, 1).ConfigureAwait(false) == 0)
                {
                    return null;
                }

                buffer.Add(one[0]);
            }

            var lines = Encoding.ASCII.GetString(buffer.ToArray()).Split(new[] { "\r\n" }, StringSplitOptions.RemoveEmptyEntries);
            var first = lines[0].Split(' ');
            var request = new LoopbackRequest { Method = first[0], Path = first[1].Split('?')[0] };
            for (var i = 1; i < lines.Length; i++)
            {
                var colon = lines[i].IndexOf(':');
                request.Headers[lines[i].Substring(0, colon).Trim()] = lines[i].Substring(colon + 1).Trim();
            }

            string lengthText;
            var length = request.Headers.TryGetValue("Content-Length", out lengthText) ? int.Parse(lengthText) : 0;
            var body = new byte[length];
            var read = 0;
            while (read < length)
            {
                var n = await stream.ReadAsync(body, read, length - read).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            request.Body = Encoding.UTF8.GetString(body, 0, read);
            return request;
        }
    }
}
