<%@ Page Language="C#" %>
<script runat="server">
protected void Upload_Click(object sender, EventArgs e) {
    var f = Request.Files[0];
    string ext = System.IO.Path.GetExtension(f.FileName).ToLowerInvariant();
    if (ext != ".pdf" && ext != ".docx") { Msg.Text = "Only PDF or Word files."; return; }
    f.SaveAs(Server.MapPath("~/App_Data/uploads/" + Guid.NewGuid() + ext));
    Msg.Text = "Thank you.";
}
</script>
<form runat="server"><asp:FileUpload runat="server"/><asp:Button runat="server" OnClick="Upload_Click" Text="Send"/><asp:Label ID="Msg" runat="server"/></form>
