<%@ WebHandler Language="C#" Class="Dispatch" %>
using System; using System.Web;
public class Dispatch : IHttpHandler {
  public void ProcessRequest(HttpContext ctx) {
    string action = ctx.Request.QueryString["action"];
    Type t = Type.GetType("Contoso.Intranet.Actions." + action + "Action, Contoso.Intranet");
    if (t == null) { ctx.Response.StatusCode = 404; return; }
    var m = t.GetMethod("Handle");
    m.Invoke(Activator.CreateInstance(t), new object[] { ctx });
  }
  public bool IsReusable { get { return true; } }
}
