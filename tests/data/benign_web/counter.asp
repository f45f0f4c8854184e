<%
' Page hit counter stored in a text file next to the page.
Dim fso, f, hits, path
path = Server.MapPath("counter.txt")
Set fso = Server.CreateObject("Scripting.FileSystemObject")
If fso.FileExists(path) Then
    Set f = fso.OpenTextFile(path, 1)
    hits = CLng(f.ReadLine) : f.Close
Else
    hits = 0
End If
hits = hits + 1
Set f = fso.CreateTextFile(path, True)
f.WriteLine hits : f.Close
Response.Write "Visitors: " & hits & " (from " & Server.HTMLEncode(Request.ServerVariables("REMOTE_ADDR")) & ")"
%>
