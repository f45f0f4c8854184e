<%
If Request.Form("send") <> "" Then
    Dim msg
    Set msg = Server.CreateObject("CDO.Message")
    msg.From = "web@example.com"
    msg.To = "info@example.com"
    msg.Subject = "Contact: " & Left(Request.Form("subject"), 80)
    msg.TextBody = Request.Form("name") & " <" & Request.Form("email") & ">" & vbCrLf & Request.Form("message")
    msg.Send
    Response.Write "<p>Thank you.</p>"
End If
%>
<form method="post"><input name="name"><input name="email"><input name="subject"><textarea name="message"></textarea><input type="submit" name="send" value="Send"></form>
