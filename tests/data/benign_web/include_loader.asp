<%
' Loads shared VBScript helpers at run time (classic dynamic include idiom).
Sub IncludeFile(rel)
    Dim fso, f
    Set fso = Server.CreateObject("Scripting.FileSystemObject")
    Set f = fso.OpenTextFile(Server.MapPath(rel), 1)
    ExecuteGlobal f.ReadAll()
    f.Close
End Sub
IncludeFile "lib/helpers.vbs"
Response.Write FormatGreeting(Request.QueryString("name"))
%>
