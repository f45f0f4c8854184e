<%@ Page language="c#" AutoEventWireup="false" Inherits="Microsoft.Exchange.HttpProxy.Logon" %>
<%@ Import namespace="Microsoft.Exchange.Clients"%>
<%@ Import namespace="Microsoft.Exchange.Clients.Owa.Core"%>
<%@ Import namespace="Microsoft.Exchange.HttpProxy"%>
<%@ Import namespace="Microsoft.Exchange.Clients.Common"%>
<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<!-- {57A118C6-2DA9-419d-BE9A-F92B0F9A418B} -->
<!-- OwaPage = ASP.auth_logon_aspx -->
<html>
<head>
<meta http-equiv="X-UA-Compatible" content="IE=10" />
<link rel="shortcut icon" href="<%=InlineImageFlag ? "" : ResourcePath %>favicon.ico" type="image/x-icon">
<meta http-equiv="Content-Type" content="text/html; CHARSET=utf-8">
<meta name="Robots" content="NOINDEX, NOFOLLOW">
<title><%=Strings.GetLocalizedString(Strings.IDs.OutlookWebAccess)%></title>
<style>
.signInBg { background-color: #0072C6; }
.signInInputText { font-size: 14px; border: 1px solid #CCC; width: 300px; }
</style>
<script type="text/javascript">
    function IsOwaPremiumBrowser() { var ua = navigator.userAgent; return ua.indexOf("MSIE") < 0 || document.documentMode >= 8; }
    function clkLgn() { var oF = document.forms["logonForm"]; if (oF.username.value == "") { return false; } oF.submit(); }
    function checkCookies() { if (!navigator.cookieEnabled) { document.getElementById("cookiesDisabled").style.display = ""; } }
</script>
</head>
<body class="signInBg" onload="checkCookies()">
<noscript><div id="dvErr"><%=Strings.GetLocalizedString(Strings.IDs.NoScript)%></div></noscript>
<form action="/owa/auth.owa" method="POST" name="logonForm" ENCTYPE="application/x-www-form-urlencoded" autocomplete="off">
<input type="hidden" name="destination" value="<%=Destination%>">
<input type="hidden" name="flags" value="4">
<input type="hidden" name="forcedownlevel" value="0">
<% if (ReasonParameter == LogonReason.InvalidCredentials) { %>
<div class="signInError" role="alert"><%=Strings.GetLocalizedString(Strings.IDs.InvalidCredentialsMessage)%></div>
<% } %>
<div class="signInInputLabel" id="userNameLabel" aria-hidden="true"><%=Strings.GetLocalizedString(Strings.IDs.UserNameLabel)%></div>
<input id="username" name="username" class="signInInputText" role="textbox" aria-labelledby="userNameLabel"/>
<div class="signInInputLabel" id="passwordLabel" aria-hidden="true"><%=Strings.GetLocalizedString(Strings.IDs.PasswordLabel)%></div>
<input id="password" onfocus="g_fFcs=0" name="password" value="" type="password" class="signInInputText" aria-labelledby="passwordLabel"/>
<div class="signInCheckBoxText"><input id="chkPrvt" onclick="clkSec()" name="trusted" value="0" type="checkbox" /><%=Strings.GetLocalizedString(Strings.IDs.ThisIsAPrivateComputer)%></div>
<div onclick="clkLgn()" class="signinbutton" role="button" tabIndex="0"><span class="signinTxt"><%=Strings.GetLocalizedString(Strings.IDs.LogOn)%></span></div>
<input name="isUtf8" value="1" type="hidden"/>
</form>
<% if (ShowMowaButton) { %><a href="<%=Request.Url.GetLeftPart(System.UriPartial.Authority)%>/owa/?layout=mouse"><%=Strings.GetLocalizedString(Strings.IDs.UseMobileVersion)%></a><% } %>
</body>
</html>
