<%@ Page Language="C#" %>
<script runat="server">
    protected void Page_Load(object sender, EventArgs e)
    {
        Exception ex = Server.GetLastError();
        Message.Text = ex == null ? "Unknown error" : Server.HtmlEncode(ex.GetBaseException().Message);
        Server.ClearError();
        Response.StatusCode = 500;
    }
</script>
<html><body><h1>Sorry, something went wrong.</h1><asp:Literal ID="Message" runat="server" /></body></html>
