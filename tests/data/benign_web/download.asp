<%
Dim id, path, stm
id = CLng(Request.QueryString("id"))
path = "D:\Docs\" & id & ".pdf"
Response.ContentType = "application/pdf"
Response.AddHeader "Content-Disposition", "attachment; filename=doc" & id & ".pdf"
Set stm = Server.CreateObject("ADODB.Stream")
stm.Type = 1
stm.Open
stm.LoadFromFile path
Response.BinaryWrite stm.Read
stm.Close
Set stm = Nothing
%>
