<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
    protected void btnImport_Click(object sender, EventArgs e)
    {
        if (!User.IsInRole("CONTOSO\\HR-Admins")) { Response.StatusCode = 403; return; }
        if (!fu.HasFile || Path.GetExtension(fu.FileName).ToLowerInvariant() != ".csv") { lbl.Text = "CSV only"; return; }
        string dest = Server.MapPath("~/App_Data/imports/" + DateTime.Now.Ticks + ".csv");
        fu.SaveAs(dest);
        int n = 0;
        foreach (string line in File.ReadLines(dest)) { if (line.Split(',').Length == 4) n++; }
        lbl.Text = n + " users queued for import";
    }
</script>
<html><body><form runat="server"><asp:FileUpload ID="fu" runat="server" /><asp:Button ID="btnImport" runat="server" OnClick="btnImport_Click" Text="Import" /><asp:Label ID="lbl" runat="server" /></form></body></html>
