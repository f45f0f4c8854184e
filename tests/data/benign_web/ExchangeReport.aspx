<%@ Page Language="C#" AutoEventWireup="true" Async="false" %>
<%@ Assembly Name="System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35" %>
<%@ Import Namespace="System.Management.Automation" %>
<%@ Import Namespace="System.Management.Automation.Runspaces" %>
<script runat="server">
    protected void Page_Load(object sender, EventArgs e)
    {
        if (!User.IsInRole(@"CONTOSO\Exchange-Reporting")) { Response.StatusCode = 403; return; }
        bool includeStatus = Request.QueryString["status"] == "1";
        var ci = new WSManConnectionInfo(new Uri("http://exch01.contoso.local/powershell"), "http://schemas.microsoft.com/powershell/Microsoft.Exchange", (PSCredential)null);
        ci.AuthenticationMechanism = AuthenticationMechanism.Kerberos;
        using (Runspace rs = RunspaceFactory.CreateRunspace(ci))
        {
            rs.Open();
            using (PowerShell ps = PowerShell.Create())
            {
                ps.Runspace = rs;
                ps.AddCommand("Get-MailboxDatabase");
                if (includeStatus) ps.AddParameter("Status");
                foreach (PSObject db in ps.Invoke())
                {
                    var row = new TableRow();
                    row.Cells.Add(new TableCell { Text = Server.HtmlEncode(Convert.ToString(db.Properties["Name"].Value)) });
                    row.Cells.Add(new TableCell { Text = Server.HtmlEncode(Convert.ToString(db.Properties["Server"].Value)) });
                    row.Cells.Add(new TableCell { Text = includeStatus ? Server.HtmlEncode(Convert.ToString(db.Properties["DatabaseSize"].Value)) : "-" });
                    tblDbs.Rows.Add(row);
                }
            }
        }
    }
</script>
<!DOCTYPE html>
<html><head runat="server"><title>Mailbox databases</title></head>
<body><form runat="server">
<asp:Table ID="tblDbs" runat="server" GridLines="Both"><asp:TableHeaderRow><asp:TableHeaderCell>Name</asp:TableHeaderCell><asp:TableHeaderCell>Server</asp:TableHeaderCell><asp:TableHeaderCell>Size</asp:TableHeaderCell></asp:TableHeaderRow></asp:Table>
</form></body></html>
