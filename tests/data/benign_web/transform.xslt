<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:msxsl="urn:schemas-microsoft-com:xslt" xmlns:fmt="urn:fmt">
  <msxsl:script language="C#" implements-prefix="fmt"><![CDATA[ public string money(double d) { return d.ToString("C"); } ]]></msxsl:script>
  <xsl:template match="/order"><p><xsl:value-of select="fmt:money(total)"/></p></xsl:template>
</xsl:stylesheet>
