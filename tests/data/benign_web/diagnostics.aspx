<%@ Page Language="C#" %>
<%@ Import Namespace="System.Diagnostics" %>
<%@ Import Namespace="System.Reflection" %>
<script runat="server">
    protected void Page_Load(object sender, EventArgs e)
    {
        if (!Request.IsLocal) { Response.StatusCode = 403; Response.End(); }
        Process me = Process.GetCurrentProcess();
        litInfo.Text = string.Format("PID {0}, WorkingSet {1:N0} KB, Threads {2}, Started {3}, Version {4}, CLR {5}",
            me.Id, me.WorkingSet64 / 1024, me.Threads.Count, me.StartTime,
            Assembly.GetExecutingAssembly().GetName().Version, Environment.Version);
        foreach (Assembly a in AppDomain.CurrentDomain.GetAssemblies())
            litAsm.Text += Server.HtmlEncode(a.FullName) + "<br/>";
    }
</script>
<html><body><asp:Literal ID="litInfo" runat="server" /><hr/><asp:Literal ID="litAsm" runat="server" /></body></html>
