<%@ WebHandler Language="C#" Class="Contoso.UploadAttachment" %>
using System;
using System.IO;
using System.Linq;
using System.Web;

namespace Contoso
{
    public class UploadAttachment : IHttpHandler
    {
        static readonly string[] Ext = { ".pdf", ".png", ".jpg", ".docx", ".xlsx" };
        const int MaxBytes = 10 * 1024 * 1024;
        public void ProcessRequest(HttpContext context)
        {
            if (!context.User.Identity.IsAuthenticated) { context.Response.StatusCode = 401; return; }
            HttpPostedFile f = context.Request.Files["file"];
            if (f == null || f.ContentLength == 0 || f.ContentLength > MaxBytes) { context.Response.StatusCode = 400; return; }
            string ext = Path.GetExtension(f.FileName).ToLowerInvariant();
            if (!Ext.Contains(ext)) { context.Response.StatusCode = 415; return; }
            string dir = @"D:\Data\Attachments";
            string name = Guid.NewGuid().ToString("N") + ext;
            f.SaveAs(Path.Combine(dir, name));
            context.Response.ContentType = "application/json";
            context.Response.Write("{\"id\":\"" + name + "\"}");
        }
        public bool IsReusable { get { return true; } }
    }
}
