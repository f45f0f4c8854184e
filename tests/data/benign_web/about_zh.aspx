<%@ Page Language="C#" %>
<html><head><meta charset="utf-8" /><title>关于我们</title></head>
<body><h1>关于我们</h1><p>欢迎访问本网站。当前时间：<%= DateTime.Now %></p>
<p>Français: café, naïve, À bientôt. Deutsch: Größe, Übung.</p></body></html>
