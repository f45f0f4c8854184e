<%@ WebHandler Language="C#" Class="Thumb" %>
using System;
using System.IO;
using System.Web;
using System.Runtime.InteropServices;

public class Thumb : IHttpHandler
{
    // libwebp native encoder shipped in /bin
    [DllImport("libwebp.dll", CallingConvention = CallingConvention.Cdecl)]
    static extern int WebPGetInfo(byte[] data, UIntPtr size, out int width, out int height);
    [DllImport("libwebp.dll", CallingConvention = CallingConvention.Cdecl)]
    static extern UIntPtr WebPEncodeBGRA(IntPtr bgra, int w, int h, int stride, float quality, out IntPtr output);
    [DllImport("libwebp.dll", CallingConvention = CallingConvention.Cdecl)]
    static extern void WebPFree(IntPtr p);

    public void ProcessRequest(HttpContext ctx)
    {
        string name = Path.GetFileName(ctx.Request.QueryString["img"] ?? "");
        string path = ctx.Server.MapPath("~/images/" + name);
        if (!File.Exists(path)) { ctx.Response.StatusCode = 404; return; }
        byte[] data = File.ReadAllBytes(path);
        int w, h;
        if (WebPGetInfo(data, (UIntPtr)data.Length, out w, out h) == 0) { ctx.Response.StatusCode = 415; return; }
        ctx.Response.ContentType = "application/json";
        ctx.Response.Write("{\"width\":" + w + ",\"height\":" + h + "}");
    }
    public bool IsReusable { get { return true; } }
}
