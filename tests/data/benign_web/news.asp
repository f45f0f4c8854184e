<%@ Language=VBScript %>
<!--#include file="conn.asp"-->
<%
Dim id, rs, sql
id = CLng("0" & Request.QueryString("id"))
Set conn = Server.CreateObject("ADODB.Connection")
conn.Open "Provider=SQLOLEDB;Data Source=.;Initial Catalog=news;Integrated Security=SSPI"
sql = "SELECT title, body, posted FROM news WHERE id = " & id
Set rs = conn.Execute(sql)
If Not rs.EOF Then
%>
<h1><%= Server.HTMLEncode(rs("title")) %></h1>
<div class="posted"><%= FormatDateTime(rs("posted"), vbLongDate) %></div>
<div><%= rs("body") %></div>
<%
End If
rs.Close : conn.Close
Server.Execute("footer.asp")
%>
