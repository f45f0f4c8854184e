<%@ Page Language="C#" AutoEventWireup="true" Inherits="Microsoft.Exchange.HttpProxy.ErrorFE" %>
<%@ Import Namespace="Microsoft.Exchange.HttpProxy" %>
<%@ Import Namespace="Microsoft.Exchange.Clients.Owa.Core" %>
<!DOCTYPE html>
<html>
<head>
    <meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title><%=Strings.GetLocalizedString(Strings.IDs.OutlookWebApp) %></title>
    <link rel="stylesheet" type="text/css" href="<%=ResourcePath %>errorFE.css" />
</head>
<body>
    <div id="errMsg" class="errorHeader"><%=Server.HtmlEncode(ErrorMessage) %></div>
    <div class="errorDetails">
        <% if (ShowDetails) { %>
        <div>X-OWA-Error: <%=Server.HtmlEncode(Request.QueryString["httpCode"] ?? "500") %></div>
        <div>X-ClientId: <%=Server.HtmlEncode(ClientId) %></div>
        <div>request-id: <%=Server.HtmlEncode(RequestId) %></div>
        <div>X-FEServer: <%=Server.HtmlEncode(Environment.MachineName) %></div>
        <div>Date: <%=DateTime.UtcNow.ToString("R") %></div>
        <% } %>
    </div>
    <a href="<%=Server.HtmlEncode(RefreshUrl) %>"><%=Strings.GetLocalizedString(Strings.IDs.Refresh) %></a>
</body>
</html>
