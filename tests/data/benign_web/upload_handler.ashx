<%@ WebHandler Language="C#" Class="UploadHandler" %>
using System;
using System.IO;
using System.Web;

public class UploadHandler : IHttpHandler
{
    public void ProcessRequest(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        if (context.Request.Files.Count == 0) { context.Response.StatusCode = 400; return; }
        HttpPostedFile file = context.Request.Files[0];
        string ext = Path.GetExtension(file.FileName).ToLowerInvariant();
        if (ext != ".png" && ext != ".jpg") { context.Response.StatusCode = 415; return; }
        string folder = context.Server.MapPath("~/App_Data/avatars");
        string name = Guid.NewGuid().ToString("N") + ext;
        file.SaveAs(Path.Combine(folder, name));
        context.Response.Write("{\"name\":\"" + name + "\"}");
    }

    public bool IsReusable { get { return true; } }
}
