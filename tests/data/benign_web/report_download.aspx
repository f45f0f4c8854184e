<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
    protected void Page_Load(object sender, EventArgs e)
    {
        string month = Request.QueryString["m"];
        if (string.IsNullOrEmpty(month) || month.Length != 7) { Response.StatusCode = 400; return; }
        string file = Path.Combine(Server.MapPath("~/App_Data/reports"), "report-" + Path.GetFileName(month) + ".csv");
        if (!File.Exists(file)) { Response.StatusCode = 404; return; }
        Response.ContentType = "text/csv";
        Response.AddHeader("Content-Disposition", "attachment; filename=report.csv");
        Response.TransmitFile(file);
    }
</script>
