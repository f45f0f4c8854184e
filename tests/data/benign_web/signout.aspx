<%@ Page language="c#" AutoEventWireup="false" Inherits="Microsoft.Exchange.HttpProxy.SignOut" %>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>Outlook</title>
<script type="text/javascript">function doSignOut(){ try { document.execCommand("ClearAuthenticationCache"); } catch (e) {} window.location.href = "logon.aspx?" + "replaceCurrent=1&url=" + encodeURIComponent("<%=Server.UrlEncode(Request.QueryString["url"] ?? "/owa") %>"); }</script>
</head><body onload="doSignOut()"><%=Strings.GetLocalizedString(Strings.IDs.SignedOut)%></body></html>
