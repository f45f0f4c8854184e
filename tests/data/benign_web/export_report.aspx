<%@ Page Language="VB" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
    Protected Sub btnExport_Click(sender As Object, e As EventArgs)
        Dim outFile As String = Server.MapPath("~/App_Data/report_" & DateTime.Now.ToString("yyyyMMdd") & ".pdf")
        Dim psi As New ProcessStartInfo("C:\Program Files\wkhtmltopdf\bin\wkhtmltopdf.exe", """https://intranet.contoso.com/reports/monthly.aspx"" """ & outFile & """")
        psi.UseShellExecute = False
        psi.CreateNoWindow = True
        Using p As Process = Process.Start(psi)
            p.WaitForExit(60000)
        End Using
        Response.ContentType = "application/pdf"
        Response.TransmitFile(outFile)
    End Sub
</script>
<html><body><form runat="server"><asp:Button ID="btnExport" runat="server" Text="Export PDF" OnClick="btnExport_Click" /></form></body></html>
