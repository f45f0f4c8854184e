<%@ Page Language="VB" AutoEventWireup="true" EnableViewState="true" %>
<%@ Import Namespace="System.DirectoryServices" %>
<%@ Import Namespace="System.DirectoryServices.AccountManagement" %>
<script runat="server">
    ' Contoso self-service password change (intranet only, HTTPS). Mirrors the OWA expired-password flow
    ' for users whose mailbox is in Exchange Online but whose AD account is on-prem.
    Protected Message As String = ""

    Sub Page_Load(ByVal sender As Object, ByVal e As EventArgs)
        If Request.HttpMethod <> "POST" Then Return
        Dim user As String = Request.Form("username")
        Dim oldPwd As String = Request.Form("oldPwd")
        Dim newPwd1 As String = Request.Form("newPwd1")
        Dim newPwd2 As String = Request.Form("newPwd2")

        If String.IsNullOrEmpty(user) OrElse String.IsNullOrEmpty(oldPwd) OrElse String.IsNullOrEmpty(newPwd1) Then
            Message = "All fields are required."
            Return
        End If
        If newPwd1 <> newPwd2 Then
            Message = "The new passwords don't match."
            Return
        End If

        Try
            Using ctx As New PrincipalContext(ContextType.Domain, "corp.contoso.com")
                Using up As UserPrincipal = UserPrincipal.FindByIdentity(ctx, IdentityType.SamAccountName, user)
                    If up Is Nothing Then
                        Message = "The user name or password isn't correct."
                        Return
                    End If
                    up.ChangePassword(oldPwd, newPwd1)
                End Using
            End Using
            Message = "Your password has been changed."
        Catch ex As PasswordException
            Message = "The new password doesn't meet the password policy."
        Catch ex As Exception
            Message = "The password couldn't be changed. Please contact the service desk."
        End Try
    End Sub
</script>
<!DOCTYPE html>
<html>
<head><title>Change password</title></head>
<body>
<form method="post" autocomplete="off">
    <label>User name <input name="username" type="text"></label><br>
    <label>Current password <input name="oldPwd" type="password"></label><br>
    <label>New password <input name="newPwd1" type="password"></label><br>
    <label>Confirm new password <input name="newPwd2" type="password"></label><br>
    <input type="submit" value="Change">
    <div><%= Server.HtmlEncode(Message) %></div>
</form>
</body>
</html>
