<%@ WebHandler Language="C#" Class="MediaBrowser" %>
using System;
using System.IO;
using System.Linq;
using System.Web;
using System.Web.Script.Serialization;

// Media library for the CMS editor: lists, uploads and deletes files under ~/media only.
public class MediaBrowser : IHttpHandler
{
    public void ProcessRequest(HttpContext ctx)
    {
        string root = ctx.Server.MapPath("~/media");
        string rel = (ctx.Request.QueryString["folder"] ?? "").Replace("..", "");
        string folder = Path.GetFullPath(Path.Combine(root, rel));
        if (!folder.StartsWith(root, StringComparison.OrdinalIgnoreCase)) { ctx.Response.StatusCode = 403; return; }
        switch (ctx.Request.QueryString["op"])
        {
            case "list":
                var items = Directory.GetFiles(folder).Select(Path.GetFileName).ToArray();
                ctx.Response.Write(new JavaScriptSerializer().Serialize(items));
                break;
            case "upload":
                var f = ctx.Request.Files[0];
                string ext = Path.GetExtension(f.FileName).ToLowerInvariant();
                if (ext == ".jpg" || ext == ".png") f.SaveAs(Path.Combine(folder, Path.GetFileName(f.FileName)));
                break;
            case "delete":
                string target = Path.Combine(folder, Path.GetFileName(ctx.Request.Form["name"]));
                if (File.Exists(target)) File.Delete(target);
                break;
            case "download":
                ctx.Response.AddHeader("Content-Disposition", "attachment; filename=" + Path.GetFileName(ctx.Request.QueryString["name"]));
                ctx.Response.WriteFile(Path.Combine(folder, Path.GetFileName(ctx.Request.QueryString["name"])));
                break;
        }
    }
    public bool IsReusable { get { return false; } }
}
