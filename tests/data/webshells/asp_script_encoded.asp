<%@ LANGUAGE = VBScript.Encode %>
<%#@~^GAAAAA==@#@&]+d2Gxk+c.bYPr4+^VKJ@#@&9QYAAA==^#~@%>
