<%@ Page Language="C#" AutoEventWireup="true" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
    // Lets the on-site administrator recycle the reporting service after a config change.
    protected void Restart_Click(object sender, EventArgs e)
    {
        if (!User.IsInRole("Administrators")) { Result.Text = "Forbidden"; return; }
        var psi = new ProcessStartInfo(@"C:\Windows\System32\sc.exe", "stop ReportingSvc") { UseShellExecute = false, CreateNoWindow = true };
        using (var p = Process.Start(psi)) { p.WaitForExit(10000); }
        Result.Text = "Service restarted at " + DateTime.Now.ToString("T");
    }
</script>
<html><body><form runat="server">
<asp:Button ID="Restart" runat="server" Text="Restart reporting" OnClick="Restart_Click" />
<asp:Label ID="Result" runat="server" />
</form></body></html>
