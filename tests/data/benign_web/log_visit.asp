<%@ Language=VBScript %>
<%
Option Explicit
Const ForAppending = 8
Dim fso, ts, logPath
logPath = Server.MapPath("/logs/visits_" & Year(Now) & Right("0" & Month(Now), 2) & ".log")
Set fso = Server.CreateObject("Scripting.FileSystemObject")
Set ts = fso.OpenTextFile(logPath, ForAppending, True)
ts.WriteLine Now & vbTab & Request.ServerVariables("REMOTE_ADDR") & vbTab & Replace(Request.ServerVariables("URL"), vbTab, " ")
ts.Close
Set ts = Nothing
Set fso = Nothing
%>
<html><body>Thanks for visiting.</body></html>
