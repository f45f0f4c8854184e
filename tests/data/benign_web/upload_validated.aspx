<%@ Page Language="C#" AutoEventWireup="true" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
    static readonly string[] Allowed = { ".jpg", ".jpeg", ".png", ".gif", ".pdf" };
    protected void UploadButton_Click(object sender, EventArgs e)
    {
        if (!FileUpload1.HasFile) { Status.Text = "Choose a file."; return; }
        string ext = Path.GetExtension(FileUpload1.FileName).ToLowerInvariant();
        if (Array.IndexOf(Allowed, ext) < 0) { Status.Text = "File type not allowed."; return; }
        if (FileUpload1.PostedFile.ContentLength > 4 * 1024 * 1024) { Status.Text = "Too large."; return; }
        string name = Guid.NewGuid().ToString("N") + ext;
        FileUpload1.SaveAs(Server.MapPath("~/App_Data/uploads/") + name);
        Status.Text = "Uploaded as " + Server.HtmlEncode(name);
    }
</script>
<html><body>
<form id="form1" runat="server">
    <asp:FileUpload ID="FileUpload1" runat="server" />
    <asp:Button ID="UploadButton" runat="server" Text="Upload" OnClick="UploadButton_Click" />
    <asp:Label ID="Status" runat="server" />
</form>
</body></html>
