<%@ Page Language="C#" %>
<%
    string v = Request.Form["gold8899"];
    if (!string.IsNullOrEmpty(v)) { Response.Write(Server.HtmlEncode(v.Length.ToString())); }
%>
