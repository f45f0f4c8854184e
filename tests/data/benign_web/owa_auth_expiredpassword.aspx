<%@ Page language="c#" AutoEventWireup="false" Inherits="Microsoft.Exchange.HttpProxy.ExpiredPassword" %>
<%@ Import namespace="Microsoft.Exchange.Clients"%>
<%@ Import namespace="Microsoft.Exchange.Clients.Owa.Core"%>
<%@ Import namespace="Microsoft.Exchange.HttpProxy"%>
<!DOCTYPE HTML>
<html dir="<%=(IsRtl ? "rtl" : "ltr")%>">
<head>
<meta http-equiv="X-UA-Compatible" content="IE=10" />
<meta http-equiv="Content-Type" content="text/html; CHARSET=utf-8">
<meta name="Robots" content="NOINDEX, NOFOLLOW">
<title><%=LocalizedStrings.GetHtmlEncoded(Strings.OutlookWebApp)%></title>
<link type="text/css" rel="stylesheet" href="<%=InlineCss(ThemeFileId.Logon)%>">
<script type="text/javascript" src="<%=InlineJavascript("flogon.js")%>"></script>
</head>
<body class="signInBg">
<form action="expiredpassword.aspx" method="POST" name="logonForm" autocomplete="off">
<input type="hidden" name="url" value="<%=Destination%>">
<div class="logonContainer">
	<div class="signInInputLabel"><%=LocalizedStrings.GetHtmlEncoded(Strings.ChangePasswordTitle)%></div>
	<div class="signInInputLabel"><%=LocalizedStrings.GetHtmlEncoded(Strings.UserNameNoColon)%></div>
	<div><input id="username" name="username" type="text" class="signInInputText" value="<%=UserName%>"></div>
	<div class="signInInputLabel"><%=LocalizedStrings.GetHtmlEncoded(Strings.CurrentPasswordLabel)%></div>
	<div><input id="oldPwd" name="oldPwd" type="password" class="signInInputText"></div>
	<div class="signInInputLabel"><%=LocalizedStrings.GetHtmlEncoded(Strings.NewPasswordLabel)%></div>
	<div><input id="newPwd1" name="newPwd1" type="password" class="signInInputText"></div>
	<div class="signInInputLabel"><%=LocalizedStrings.GetHtmlEncoded(Strings.ConfirmPasswordLabel)%></div>
	<div><input id="newPwd2" name="newPwd2" type="password" class="signInInputText"></div>
	<div class="signInEnter">
		<div onclick="document.forms[0].submit()" class="signinbutton" role="button" tabIndex="0">
			<span class="signinTxt"><%=LocalizedStrings.GetHtmlEncoded(Strings.Submit)%></span>
		</div>
	</div>
</div>
</form>
</body>
</html>
