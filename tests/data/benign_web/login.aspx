<%@ Page Language="C#" AutoEventWireup="true" CodeBehind="Login.aspx.cs" Inherits="Shop.Login" %>
<!DOCTYPE html>
<html><head runat="server"><title>Sign in</title></head>
<body>
<form id="form1" runat="server" defaultbutton="SignIn">
    <asp:ValidationSummary runat="server" />
    <asp:TextBox ID="UserName" runat="server" />
    <asp:RequiredFieldValidator runat="server" ControlToValidate="UserName" ErrorMessage="User name is required." />
    <asp:TextBox ID="Password" runat="server" TextMode="Password" />
    <asp:RequiredFieldValidator runat="server" ControlToValidate="Password" ErrorMessage="Password is required." />
    <asp:CheckBox ID="Remember" runat="server" Text="Remember me" />
    <asp:Button ID="SignIn" runat="server" Text="Sign in" OnClick="SignIn_Click" />
    <asp:HiddenField ID="ReturnUrl" runat="server" Value='<%# Request.QueryString["ReturnUrl"] %>' />
    <script type="text/javascript">
        document.getElementById('<%= UserName.ClientID %>').focus();
    </script>
</form>
</body></html>
