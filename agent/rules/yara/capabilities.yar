/*
 * exwatch built-in rules: many webshell capabilities in one server page.
 * Full-featured shells (ASPXSpy-like, classic ASP "admin" shells) rename and obfuscate their
 * sinks, but they still bundle capabilities no ordinary page combines: drive enumeration,
 * registry access, raw sockets, IIS metabase, WMI, account enumeration, time-stomping,
 * command execution. Each string below is one capability; rules count capabilities.
 * Written by the exwatch project.
 */

rule EXW_Aspx_Capability_Bundle
{
    meta:
        id = "exw.ws.aspx_capabilities"
        title = "ASP.NET page combining several post-exploitation capabilities"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.discovery"
    strings:
        $s_exec = /(ProcessStartInfo|Process\s*\.\s*Start\s*\()/ nocase
        $s_cmd = /["'](cmd|cmd\.exe|powershell|powershell\.exe)["']/ nocase
        $s_drives = /(GetLogicalDrives|DriveInfo\s*\.\s*GetDrives)/ nocase
        $s_reg = /(Microsoft\.Win32\.Registry|RegistryKey|Registry\s*\.\s*(LocalMachine|CurrentUser|ClassesRoot|Users))/
        $s_sock = /new\s+(System\.Net\.Sockets\.)?(TcpClient|Socket|UdpClient|TcpListener)\s*\(/
        $s_iis = "IIS://" nocase
        $s_stomp = /(Set(CreationTime|LastWriteTime|LastAccessTime)(Utc)?\s*\(|\.\s*(CreationTime|LastWriteTime)\s*=\s*[^=])/
        $s_asm = /Assembly\s*\.\s*Load(From|File)?\s*\(/
        $s_wmi = /(ManagementObjectSearcher|ManagementClass\s*\(|Win32_(Process|Service|UserAccount|LogicalDisk))/
        $s_users = /(WinNT:\/\/|net\s+(user|localgroup)\b)/ nocase
        $s_sql = /new\s+(Sql|OleDb|Odbc)Connection\s*\(/
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
        $f_list = /(Directory\s*\.\s*Get(Files|Directories|FileSystemEntries)\s*\(|new\s+DirectoryInfo\s*\()/
        $f_del = /(File|Directory)\s*\.\s*Delete\s*\(/
        $f_dl = /(Response\s*\.\s*(WriteFile|TransmitFile)\s*\(|attachment;\s*filename)/ nocase
        $f_up = /\.\s*SaveAs\s*\(/
        $f_write = /(File\s*\.\s*WriteAll(Text|Bytes)\s*\(|new\s+StreamWriter\s*\()/
        $f_move = /(File|Directory)\s*\.\s*(Move|Copy)\s*\(/
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and (
                4 of ($s_*)
                or (3 of ($s_*) and 3 of ($f_*))
            )
        )
}

rule EXW_Aspx_Capability_Pair
{
    meta:
        id = "exw.ws.aspx_capabilities_some"
        title = "ASP.NET page combining some post-exploitation capabilities with a file manager"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003, attack.discovery"
    strings:
        $s_exec = /(ProcessStartInfo|Process\s*\.\s*Start\s*\()/ nocase
        $s_drives = /(GetLogicalDrives|DriveInfo\s*\.\s*GetDrives)/ nocase
        $s_reg = /(Microsoft\.Win32\.Registry|RegistryKey|Registry\s*\.\s*(LocalMachine|CurrentUser|ClassesRoot|Users))/
        $s_sock = /new\s+(System\.Net\.Sockets\.)?(TcpClient|Socket|UdpClient|TcpListener)\s*\(/
        $s_iis = "IIS://" nocase
        $s_stomp = /(Set(CreationTime|LastWriteTime|LastAccessTime)(Utc)?\s*\(|\.\s*(CreationTime|LastWriteTime)\s*=\s*[^=])/
        $s_wmi = /(ManagementObjectSearcher|Win32_(Process|Service|UserAccount))/
        $s_users = /(WinNT:\/\/|net\s+(user|localgroup)\b)/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
        $f_list = /(Directory\s*\.\s*Get(Files|Directories|FileSystemEntries)\s*\(|new\s+DirectoryInfo\s*\()/
        $f_del = /(File|Directory)\s*\.\s*Delete\s*\(/
        $f_dl = /(Response\s*\.\s*(WriteFile|TransmitFile)\s*\(|attachment;\s*filename)/ nocase
        $f_up = /\.\s*SaveAs\s*\(/
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and 2 of ($s_*) and 3 of ($f_*)
        )
}

rule EXW_ASP_Capability_Bundle
{
    meta:
        id = "exw.ws.asp_capabilities"
        title = "Classic ASP page combining shell, filesystem, network and account capabilities"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.discovery"
    strings:
        $a_shell = /(WScript\.Shell|Shell\.Application|72C24DD5-D70A-438B-8A42-98424B88AFB8|13709620-C279-11CE-A49E-444553540000)/ nocase
        $a_net = "WScript.Network" nocase
        $a_users = "WinNT://" nocase
        $a_cmd = /cmd(\.exe)?\s+\/c/ nocase
        // Writes only: a status page reading the OS name from the registry is common.
        $a_reg = /\.\s*Reg(Write|Delete)\b/ nocase
        $a_drives = /(\.\s*Drives\b|\.\s*GetDrive\s*\(|\.\s*DriveType\b)/ nocase
        $a_xmlhttp = /(MSXML2\.ServerXMLHTTP|Microsoft\.XMLHTTP|WinHttp\.WinHttpRequest)/ nocase
        $a_fso = /(Scripting\.FileSystemObject|0D43FE01-F093-11CF-8940-00A0C9054228)/ nocase
        $a_stream = "ADODB.Stream" nocase
        $a_del = /\.\s*Delete(File|Folder)\b/ nocase
        $a_folders = /\.\s*(SubFolders|GetFolder)\b/ nocase
        $a_copy = /\.\s*(CopyFile|MoveFile|CopyFolder|MoveFolder)\b/ nocase
        $asp = "<%"
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Cookies|ServerVariables)\b|\(\s*["'\w])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $asp and $req and (
                ($a_shell and 2 of ($a_net, $a_users, $a_cmd, $a_reg, $a_drives, $a_xmlhttp, $a_fso, $a_stream))
                or 3 of ($a_net, $a_users, $a_cmd, $a_reg, $a_drives)
                or (2 of ($a_net, $a_users, $a_cmd, $a_reg, $a_drives) and 4 of ($a_fso, $a_stream, $a_del, $a_folders, $a_copy))
            // A whole-disk file manager: drive enumeration plus folder walking, delete, copy/move, upload.
            or ($a_drives and $a_fso and 3 of ($a_stream, $a_del, $a_folders, $a_copy))
            )
        )
}
