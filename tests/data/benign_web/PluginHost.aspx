<%@ Page Language="C#" %>
<%@ Import Namespace="System.Reflection" %>
<script runat="server">
    static readonly string[] Allowed = { "Contoso.Reports", "Contoso.Charts" };
    protected void Page_Load(object sender, EventArgs e)
    {
        string name = Request.QueryString["plugin"];
        if (Array.IndexOf(Allowed, name) < 0) { Response.StatusCode = 404; return; }
        Assembly asm = Assembly.Load(new AssemblyName(name + ", Version=2.1.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"));
        Type t = asm.GetType(name + ".Plugin", true);
        var ctl = (Control)Activator.CreateInstance(t);
        phPlugin.Controls.Add(ctl);
    }
</script>
<html><body><form runat="server"><asp:PlaceHolder ID="phPlugin" runat="server" /></form></body></html>
