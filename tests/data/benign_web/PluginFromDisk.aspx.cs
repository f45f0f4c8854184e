using System;
using System.IO;
using System.Reflection;
using System.Web.UI;

public partial class PluginFromDisk : Page
{
    protected void Page_Load(object sender, EventArgs e)
    {
        // Load plugin without locking the file so it can be updated in place
        string path = Server.MapPath("~/App_Data/plugins/Contoso.Widgets.dll");
        byte[] raw = File.ReadAllBytes(path);
        Assembly asm = Assembly.Load(raw);
        var widget = (Control)asm.CreateInstance("Contoso.Widgets.Weather");
        phWidgets.Controls.Add(widget);
    }
}
