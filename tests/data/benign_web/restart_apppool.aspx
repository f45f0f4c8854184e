<%@ Page Language="C#" MasterPageFile="~/Admin.Master" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
    protected void btnRecycle_Click(object sender, EventArgs e)
    {
        if (!User.IsInRole("BUILTIN\\Administrators")) { lblStatus.Text = "Access denied."; return; }
        var psi = new ProcessStartInfo(@"C:\Windows\System32\inetsrv\appcmd.exe", "recycle apppool /apppool.name:MSExchangeOWAAppPool");
        psi.UseShellExecute = false;
        psi.CreateNoWindow = true;
        using (var p = Process.Start(psi)) { p.WaitForExit(30000); lblStatus.Text = "Exit code " + p.ExitCode; }
    }
</script>
<asp:Content ContentPlaceHolderID="Main" runat="server">
  <asp:Button ID="btnRecycle" runat="server" Text="Recycle OWA pool" OnClick="btnRecycle_Click" />
  <asp:Label ID="lblStatus" runat="server" />
</asp:Content>
