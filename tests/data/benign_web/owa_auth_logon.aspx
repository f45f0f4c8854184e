<%@ Page language="c#" AutoEventWireup="false" Inherits="Microsoft.Exchange.HttpProxy.Logon" %>
<%@ Import namespace="Microsoft.Exchange.Clients"%>
<%@ Import namespace="Microsoft.Exchange.Clients.Owa.Core"%>
<%@ Import namespace="Microsoft.Exchange.HttpProxy"%>
<%@ Import namespace="System.Web" %>
<!DOCTYPE HTML>
<html dir="<%=(IsRtl ? "rtl" : "ltr")%>" class="<%=(IsRtl ? "rtl" : "ltr")%>">
<head>
<meta http-equiv="X-UA-Compatible" content="IE=10" />
<link rel="shortcut icon" href="<%=InlineImage(ThemeFileId.FavoriteIcon)%>" type="image/x-icon" />
<meta http-equiv="Content-Type" content="text/html; CHARSET=utf-8">
<meta name="Robots" content="NOINDEX, NOFOLLOW">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title><%=LocalizedStrings.GetHtmlEncoded(Strings.OutlookWebApp)%></title>
<style>
    @font-face {
        font-family: "Segoe UI WPC";
        src: url("<%=InlineFontFace("segoeui-regular.eot")%>?#iefix") format("embedded-opentype");
    }
    body { font-family: "Segoe UI WPC", "Segoe UI", Tahoma, Arial, sans-serif; }
    .signInBg { background-color: #0072C6; }
</style>
<script type="text/javascript" src="<%=InlineJavascript("flogon.js")%>"></script>
<script type="text/javascript">
	<!--
	var a_fRC = 1;
	var g_fFcs = 1;
	var a_fLOff = 0;
	var a_fCAC = <%=(ShowPublicPrivateSelection ? 1 : 0)%>;
	var a_fEnbSMm = 0;

	/// <summary>
	/// Is Mime Control installed?
	/// </summary>
	function IsMimeCtlInst(progid)
	{
		if (!a_fEnbSMm)
			return false;

		var oMimeVer = null;

		try
		{
			// TODO: ingore this on none IE browser
			//
			//oMimeVer = new ActiveXObject(progid);
		}
		catch (e)
		{
		}

		if (oMimeVer != null)
			return true;
		else
			return false;
	}

	/// <summary>
	/// Render out the S-MIME control if it is installed.
	/// </summary>
	function RndMimeCtl()
	{
		if (IsMimeCtlInst("MimeBhvr.MimeCtlVer"))
			RndMimeCtlHlpr("MimeNSe2k3", "D801B381-B81D-47a7-8EC4-EFC111666AC0", "MIMEe2k3", "mimeLogoffE2k3");

		if (IsMimeCtlInst("OwaSMime.MimeCtlVer"))
			RndMimeCtlHlpr("MimeNSe2k7sp1", "833aa5fb-7aca-4708-9d7b-c982bf57469a", "MIMEe2k7sp1", "mimeLogoffE2k7sp1");

		if (IsMimeCtlInst("OwaSMime2.MimeCtlVer"))
			RndMimeCtlHlpr("MimeNSe2k9", "4F40839A-C1E5-47E3-804D-A2A17F42DA21", "MIMEe2k9", "mimeLogoffE2k9");
	}
	-->
</script>
</head>
<body class="signInBg" style="display: none" onload="javascript:RndMimeCtl();">
<noscript>
	<div id="dvErr">
		<table cellpadding="0" cellspacing="0">
		<tr>
			<td><img src="<%=InlineImage(ThemeFileId.Error)%>" alt=""></td>
			<td style="width:100%"><%=LocalizedStrings.GetHtmlEncoded(Strings.NoScript)%></td>
		</tr>
		</table>
	</div>
</noscript>
<form action="/owa/auth.owa" method="POST" name="logonForm" ENCTYPE="application/x-www-form-urlencoded" autocomplete="off">
<input type="hidden" name="destination" value="<%=Destination%>">
<input type="hidden" name="flags" value="4">
<input type="hidden" name="forcedownlevel" value="0">
<div id="mainLogonDiv" class="mouse">
	<div class="sidebar">
		<div class="owaLogoContainer">
			<img src="<%=InlineImage(ThemeFileId.OwaHeaderTextBlue)%>" class="owaLogo" aria-hidden="true" />
			<img src="<%=InlineImage(ThemeFileId.BlankImage)%>" class="owaLogo owaLogoSmall" aria-hidden="true" />
		</div>
	</div>
	<div class="logonContainer">
		<div id="lgnDiv" class="logonDiv" onKeyPress="return checkSubmit(event)">
			<div class="signInInputLabel" id="userNameLabel" aria-hidden="true"><%=LocalizedStrings.GetHtmlEncoded(Strings.UserNameNoColon)%></div>
			<div><input id="username" name="username" placeholder="<%=LocalizedStrings.GetHtmlEncoded(Strings.UserNamePlaceHolder)%>" class="signInInputText" role="textbox" aria-labelledby="userNameLabel"/></div>
			<div class="signInInputLabel" id="passwordLabel" aria-hidden="true"><%=LocalizedStrings.GetHtmlEncoded(Strings.PasswordNoColon)%></div>
			<div><input id="password" onfocus="g_fFcs=0" name="password" value="" type="password" class="signInInputText" aria-labelledby="passwordLabel"/></div>
			<div class="signInEnter">
				<div onclick="clkLgn()" class="signinbutton" role="button" tabIndex="0" >
					<img class="imgLnk" src="<%=InlineImage(ThemeFileId.SignInArrow)%>" alt="">
					<span class="signinTxt"><%=LocalizedStrings.GetHtmlEncoded(Strings.LogOn)%></span>
				</div>
			</div>
		</div>
	</div>
</div>
<input name="isUtf8" value="1" type="hidden"/>
</form>
</body>
</html>
