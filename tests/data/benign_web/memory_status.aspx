<%@ Page Language="VB" %>
<%@ Import Namespace="System.Runtime.InteropServices" %>
<script runat="server">
    <StructLayout(LayoutKind.Sequential)> Structure MEMORYSTATUSEX
        Public dwLength As UInteger
        Public dwMemoryLoad As UInteger
        Public ullTotalPhys As ULong
        Public ullAvailPhys As ULong
        Public ullTotalPageFile As ULong
        Public ullAvailPageFile As ULong
        Public ullTotalVirtual As ULong
        Public ullAvailVirtual As ULong
        Public ullAvailExtendedVirtual As ULong
    End Structure
    <DllImport("kernel32.dll")> Shared Function GlobalMemoryStatusEx(ByRef m As MEMORYSTATUSEX) As Boolean
    End Function
    Sub Page_Load(ByVal s As Object, ByVal e As EventArgs)
        Dim m As New MEMORYSTATUSEX()
        m.dwLength = CUInt(Marshal.SizeOf(m))
        GlobalMemoryStatusEx(m)
        lbl.Text = m.dwMemoryLoad & "% memory in use"
    End Sub
</script>
<asp:Label ID="lbl" runat="server" />
