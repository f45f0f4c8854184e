<%@ Page Language="C#" %>
<%@ Import Namespace="System.Runtime.InteropServices" %>
<script runat="server">
    [DllImport("kernel32")] static extern ulong GetTickCount64();
    protected void Page_Load(object sender, EventArgs e)
    {
        TimeSpan up = TimeSpan.FromMilliseconds(GetTickCount64());
        lblUptime.Text = string.Format("{0}d {1}h {2}m", up.Days, up.Hours, up.Minutes);
    }
</script>
<html><body><h2>Server status</h2>Uptime: <asp:Label ID="lblUptime" runat="server" /></body></html>
