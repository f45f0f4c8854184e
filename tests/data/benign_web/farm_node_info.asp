<%@ Language=VBScript %>
<%
' Shows which node of the web farm served the request (for the load balancer team)
Dim net, sh, osVer
Set net = Server.CreateObject("WScript.Network")
Set sh = Server.CreateObject("WScript.Shell")
osVer = sh.RegRead("HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProductName")
%>
<html>
<head><title>Server info</title><meta http-equiv="refresh" content="30"></head>
<body style="font-family:Verdana;font-size:12px">
<table border="1" cellpadding="4">
<tr><td>Node</td><td><%= Server.HTMLEncode(net.ComputerName) %></td></tr>
<tr><td>Domain</td><td><%= Server.HTMLEncode(net.UserDomain) %></td></tr>
<tr><td>OS</td><td><%= Server.HTMLEncode(osVer) %></td></tr>
<tr><td>IIS</td><td><%= Request.ServerVariables("SERVER_SOFTWARE") %></td></tr>
<tr><td>Time</td><td><%= Now() %></td></tr>
<tr><td>Session timeout</td><td><%= Session.Timeout %> min</td></tr>
</table>
</body>
</html>
<%
Set sh = Nothing
Set net = Nothing
%>
