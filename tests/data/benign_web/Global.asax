<%@ Application Language="C#" %>
<script runat="server">
    void Application_Error(object sender, EventArgs e)
    {
        Exception ex = Server.GetLastError();
        string line = DateTime.UtcNow.ToString("o") + " " + Request.RawUrl + " " + (ex == null ? "" : ex.Message) + Environment.NewLine;
        System.IO.File.AppendAllText(Server.MapPath("~/App_Data/errors.log"), line);
    }
    void Session_Start(object sender, EventArgs e) { Session["started"] = DateTime.UtcNow; }
</script>
