<%@ WebHandler Language="C#" Class="Contoso.Kiosk.AdAuthHandler" %>

using System;
using System.Configuration;
using System.DirectoryServices.AccountManagement;
using System.IO;
using System.Web;
using System.Web.Script.Serialization;

namespace Contoso.Kiosk
{
    /// <summary>
    /// JSON sign-in endpoint used by the meeting-room kiosk app. Validates domain
    /// credentials and issues a short-lived forms ticket. Accepts POST only.
    /// </summary>
    public class AdAuthHandler : IHttpHandler
    {
        private static readonly JavaScriptSerializer Json = new JavaScriptSerializer();

        public bool IsReusable { get { return true; } }

        public void ProcessRequest(HttpContext context)
        {
            context.Response.ContentType = "application/json";
            context.Response.Cache.SetNoStore();

            if (!string.Equals(context.Request.HttpMethod, "POST", StringComparison.OrdinalIgnoreCase) || !context.Request.IsSecureConnection)
            {
                context.Response.StatusCode = 405;
                return;
            }

            string user = context.Request.Form["username"];
            string pass = context.Request.Form["password"];
            if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(pass))
            {
                context.Response.StatusCode = 400;
                context.Response.Write(Json.Serialize(new { ok = false, error = "missing_credentials" }));
                return;
            }

            bool valid;
            using (var pc = new PrincipalContext(ContextType.Domain, ConfigurationManager.AppSettings["AdDomain"]))
            {
                valid = pc.ValidateCredentials(user, pass, ContextOptions.Negotiate);
            }

            Audit(context, user, valid);

            if (!valid)
            {
                context.Response.StatusCode = 401;
                context.Response.Write(Json.Serialize(new { ok = false, error = "invalid_credentials" }));
                return;
            }

            var ticket = new System.Web.Security.FormsAuthenticationTicket(1, user, DateTime.Now, DateTime.Now.AddMinutes(20), false, "kiosk");
            var cookie = new HttpCookie(System.Web.Security.FormsAuthentication.FormsCookieName, System.Web.Security.FormsAuthentication.Encrypt(ticket))
            {
                HttpOnly = true,
                Secure = true
            };
            context.Response.Cookies.Add(cookie);
            context.Response.Write(Json.Serialize(new { ok = true, user = user }));
        }

        private static void Audit(HttpContext context, string user, bool ok)
        {
            string path = context.Server.MapPath("~/App_Data/kiosk-auth.log");
            string line = string.Join("\t", new[]
            {
                DateTime.UtcNow.ToString("o"),
                context.Request.UserHostAddress,
                user.Replace("\t", " ").Replace("\r", "").Replace("\n", ""),
                ok ? "success" : "failure"
            });
            File.AppendAllText(path, line + "\r\n");
        }
    }
}
