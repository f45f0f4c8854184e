<%@ Page Language="C#" %>
<script runat="server">
protected void Export_Click(object sender, EventArgs e) {
    Type excelType = Type.GetTypeFromProgID("Excel.Application");
    object excel = Activator.CreateInstance(excelType);
    object books = excelType.InvokeMember("Workbooks", System.Reflection.BindingFlags.GetProperty, null, excel, null);
    string name = Request.Form["report"];
    books.GetType().InvokeMember("Open", System.Reflection.BindingFlags.InvokeMethod, null, books, new object[] { Server.MapPath("~/reports/" + System.IO.Path.GetFileName(name)) });
    excelType.InvokeMember("Quit", System.Reflection.BindingFlags.InvokeMethod, null, excel, null);
}
</script>
