/*
 * exwatch built-in rules: command execution shells (ASPXSpy-style cmd pages, classic ASP
 * WScript.Shell shells, PowerShell runspace shells).
 * Written by the exwatch project from public descriptions of the techniques.
 * "Input" below means request data or a server control's .Text (shells built from
 * <asp:TextBox> never touch Request directly).
 */

rule EXW_Exec_Process_From_Input
{
    meta:
        id = "exw.ws.process_input"
        title = "Process started with a file name or arguments taken from the client"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059.003"
    strings:
        $start_in = /Process\s*\.\s*Start\s*\([^;]{0,200}(Request\s*(\.|\[|\()|\.Text\b)/ nocase
        $psi_in = /ProcessStartInfo\s*\([^;]{0,200}(Request\s*(\.|\[|\()|\.Text\b)/ nocase
        $prop_in = /\.\s*(FileName|Arguments)\s*=\s*[^;\n]{0,200}(Request\s*(\.|\[|\()|\.Text\b)/ nocase
        // Object initializer: new Process { StartInfo = { FileName = ..., Arguments = ... } }.
        $init_in = /new\s+(System\.Diagnostics\.)?Process(StartInfo)?\s*(\(\s*\))?\s*\{[^;]{0,300}\b(FileName|Arguments)\s*=\s*[^,;}\n]{0,200}(Request\s*(\.|\[|\()|\.Text\b)/ nocase
        // VB.NET's Shell() (Microsoft.VisualBasic.Interaction) starts a process by itself.
        $shell_in = /(Interaction\s*\.\s*|[^.\w])Shell\s*\([^;\n]{0,200}(Request\s*(\.|\[|\()|\.Text\b)/ nocase
        $proc = /(ProcessStartInfo|Process\s*\.\s*Start\s*\(|new\s+(System\.Diagnostics\.)?Process\s*[\(\{]|Interaction\s*\.\s*Shell\s*\()/ nocase
        $dotnet = /Language\s*=\s*["']?(C#|CSharp|VB|VBNET)["'\s%>]/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and (
                ($proc and any of ($start_in, $psi_in, $prop_in, $init_in))
                or ($shell_in and $dotnet)
            )
        )
}

rule EXW_Exec_Cmd_Shell
{
    meta:
        id = "exw.ws.cmd_shell"
        title = "Page runs cmd.exe/PowerShell and reads client input"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059.003"
    strings:
        $proc = /(ProcessStartInfo|Process\s*\.\s*Start\s*\(|new\s+(System\.Diagnostics\.)?Process\s*[\(\{]|Interaction\s*\.\s*Shell\s*\()/ nocase
        // The interpreter alone, with its switches ("cmd.exe /c "), or the switches alone.
        $cmd = /["']\s*(c:\\\\windows\\\\system32\\\\)?((cmd|powershell|pwsh)(\.exe)?(\s+[\/-][^"'\n]{0,100})?|\/c(\s[^"'\n]{0,100})?|\/bin\/(ba)?sh)["']/ nocase
        // Request data, or a web-service method parameter ([WebMethod] in an .asmx).
        // %ComSpec% names cmd.exe without writing it.
        $comspec = /(GetEnvironmentVariable\s*\(\s*["']ComSpec["']|["']%ComSpec%)/ nocase
        $input = /(Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Cookies|Headers|ServerVariables)\b|\[|\(\s*["'])|\[\s*WebMethod\b)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $proc and ($cmd or $comspec) and $input
        )
}

rule EXW_Exec_Cmd_Output
{
    meta:
        id = "exw.ws.cmd_output"
        title = "Page runs cmd.exe/PowerShell and returns its output"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059.003"
    strings:
        $proc = /(ProcessStartInfo|Process\s*\.\s*Start\s*\(|new\s+(System\.Diagnostics\.)?Process\s*[\(\{]|Interaction\s*\.\s*Shell\s*\()/ nocase
        $cmd = /["'](c:\\\\windows\\\\system32\\\\)?(cmd|cmd\.exe|powershell|powershell\.exe|pwsh)["']/ nocase
        $out = /StandardOutput\s*\.\s*ReadToEnd|RedirectStandardOutput\s*=\s*true/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $proc and $cmd and $out
        )
}

rule EXW_Exec_Process_Request_Page
{
    meta:
        id = "exw.ws.process_request_page"
        title = "Page or handler both starts processes and reads request data"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003, attack.execution"
    strings:
        $proc = /(ProcessStartInfo|Process\s*\.\s*Start\s*\(|Interaction\s*\.\s*Shell\s*\()/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers)\b|\[)/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $proc and $req
        )
}

rule EXW_ASP_Shell_Object_Exec
{
    meta:
        id = "exw.ws.asp_wscript_shell"
        title = "Classic ASP/JScript shell: WScript.Shell or Shell.Application run with request input"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059.003"
    strings:
        // ProgIDs and the CLSIDs of WScript.Shell / Shell.Application (used to dodge ProgID matching).
        $obj = /(WScript\.Shell|Shell\.Application|72C24DD5-D70A-438B-8A42-98424B88AFB8|13709620-C279-11CE-A49E-444553540000)/ nocase
        $run = /\.\s*(exec|run|ShellExecute)\b\s*[\( ]/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Cookies|ServerVariables)\b|\(\s*["'\w]|\[)/ nocase
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $server and $obj and $run and $req
        )
}

rule EXW_ASP_Shell_Object
{
    meta:
        id = "exw.ws.asp_shell_object"
        title = "Web page instantiates WScript.Shell/Shell.Application and runs commands"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003, attack.execution"
    strings:
        $create = /(CreateObject|ActiveXObject|GetObject)\s*\(\s*["'](WScript\.Shell|Shell\.Application)["']/ nocase
        $clsid = /clsid:(72C24DD5-D70A-438B-8A42-98424B88AFB8|13709620-C279-11CE-A49E-444553540000)/ nocase
        $run = /\.\s*(exec|run|ShellExecute)\b\s*[\( ]/ nocase
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $server and ($create or $clsid) and $run
        )
}

rule EXW_PowerShell_Runspace_Request
{
    meta:
        id = "exw.ws.powershell_runspace"
        title = "Page hosts a PowerShell runspace fed by request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059.001"
    strings:
        // Also reached by reflection: the class named as a string, its methods by name.
        $ps = /(RunspaceFactory\s*\.\s*CreateRunspace|PowerShell\s*\.\s*Create\s*\(|\.\s*AddScript\s*\(|["']System\.Management\.Automation\.PowerShell["'])/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|InputStream)\b|\[)/ nocase
        $script_in = /AddScript\s*\([^;]{0,160}(Request\s*(\.|\[)|\.Text\b)/ nocase
        // Any script, or a command named by a variable: a report page that runs one fixed
        // cmdlet (AddCommand("Get-MailboxDatabase")) is no shell.
        $script = /(\.\s*AddScript\s*\(|["']AddScript["']|\.\s*AddCommand\s*\(\s*[A-Za-z_]|CreatePipeline\s*\(\s*[A-Za-z_])/ nocase
        // A web service's caller hands the script in as a method parameter.
        $ws = /\[\s*WebMethod\b/
        $page = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $ps and $script and ($req or $script_in or $ws)
        )
}

rule EXW_SQL_Shell
{
    meta:
        id = "exw.ws.sql_shell"
        title = "Database shell: connection string or SQL text straight from the client, or xp_cmdshell"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.collection"
    strings:
        $conn_in = /(new\s+(Sql|OleDb|Odbc)Connection\s*\(|ConnectionString\s*=)\s*[^;\n]{0,120}(Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params)\b|\[|\(\s*["'])|\.Text\b)/ nocase
        $sql_in = /(CommandText\s*=|new\s+(Sql|OleDb|Odbc)Command\s*\(|\.\s*Execute\s*\(?)\s*(Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params)\b|\[|\(\s*["'])|[a-z_]\w{0,30}\.Text\b)/ nocase
        $ado_in = /\.\s*Open\s*\(?\s*Request\s*(\.\s*(Unvalidated|Form|QueryString|Item)\b|\(\s*["'])/ nocase
        $xp = "xp_cmdshell" nocase
        $req = /(Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params)\b|\[|\(\s*["'])|\.Text\b)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and (($conn_in and $sql_in) or $ado_in or ($xp and $req and ($conn_in or $sql_in)))
        )
}

rule EXW_Reverse_Shell
{
    meta:
        id = "exw.ws.reverse_shell"
        title = "Page connects out and wires a command interpreter to the socket (reverse shell)"
        severity = "high"
        tags = "attack.execution, attack.t1059.003, attack.command_and_control, attack.t1095, attack.t1505.003"
    strings:
        $sock = /new\s+(System\.Net\.Sockets\.)?(TcpClient|Socket)\s*\(/ nocase
        $proc = /(ProcessStartInfo|Process\s*\.\s*Start\s*\(|new\s+(System\.Diagnostics\.)?Process\s*[\(\{]|Interaction\s*\.\s*Shell\s*\()/ nocase
        $cmd = /["'](c:\\\\windows\\\\system32\\\\)?(cmd|cmd\.exe|powershell|powershell\.exe)["']/ nocase
        $stdin = /(RedirectStandardInput\s*=\s*true|StandardInput\s*\.\s*Write)/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $sock and $proc and $cmd and $stdin
}

rule EXW_COM_Shell_Via_Reflection
{
    meta:
        id = "exw.ws.com_reflection_exec"
        title = "Page creates a COM object from a ProgID or CLSID at run time and runs commands with request input"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059.003"
    strings:
        // .NET late binding: the ProgID string can be split or built at run time, so the
        // object's name is not required; what it is made to do is.
        // VB.NET's CreateObject and CallByName are the same late binding in one call each.
        $late = /(GetTypeFromProgID|GetTypeFromCLSID|[^.\w]CreateObject)\s*\(/ nocase
        $make = /(Activator\s*\.\s*CreateInstance|InvokeMember|CallByName)\s*\(/ nocase
        $run = /(\.\s*(Exec|Run|ShellExecute)\s*\(|["'](Exec|Run|ShellExecute)["'])/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $late and $make and $run and $req
        )
}

rule EXW_Reflection_Invoke_Start_Request
{
    meta:
        id = "exw.ws.reflection_process_start"
        title = "Page reaches a process-starting method through reflection and feeds it request input"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.defense_evasion, attack.t1027"
    strings:
        // Type.GetType("System.Diagnostics.Process...") hides Process.Start from pattern
        // matching; the method is still named to GetMethod/InvokeMember.
        $type = /(Type\s*\.\s*GetType|\.\s*GetType)\s*\(\s*["']/ nocase
        $method = /(GetMethod|InvokeMember)\s*\(\s*["'](Start|Exec|ShellExecute)["']/ nocase
        $invoke = /(\.\s*Invoke\s*\(|InvokeMember\s*\()/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $type and $method and $invoke and $req
        )
}

rule EXW_Exec_Service_Method_Process
{
    meta:
        id = "exw.ws.service_method_process"
        title = "Web service method starts a program named by a variable (its caller's parameter)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution"
    strings:
        $ws = /\[\s*(WebMethod|OperationContract)\b/
        $proc = /(ProcessStartInfo|Process\s*\.\s*Start\s*\(|new\s+(System\.Diagnostics\.)?Process\s*[\(\{]|Interaction\s*\.\s*Shell\s*\()/ nocase
        // The program or its arguments come from an identifier, not a literal.
        $fn_var = /\b(FileName|Arguments)\s*=\s*[A-Za-z_]\w{0,40}\s*[;,}]/
        $start_var = /(Process\s*\.\s*Start|new\s+(System\.Diagnostics\.)?ProcessStartInfo)\s*\(\s*[A-Za-z_]\w{0,40}\s*[,)]/
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $ws and $proc and ($fn_var or $start_var)
        )
}

rule EXW_Exec_WMI_Process_Create
{
    meta:
        id = "exw.ws.wmi_process_create"
        title = "Page starts processes through WMI (Win32_Process.Create)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1047"
    strings:
        $wmi = "Win32_Process" nocase
        $create = /(InvokeMethod\s*\(\s*["']Create["']|GetMethodParameters\s*\(\s*["']Create["']|Win32_Process\s*\.\s*Create\s*\()/ nocase
        // Script: the class object fetched (GetObject("winmgmts:").Get("Win32_Process")), then .Create.
        $get_class = /\.\s*Get\s*\(\s*["']Win32_Process["']\s*\)/ nocase
        $script_create = /\.\s*Create\s*[\( ]/ nocase
        $page = /(<%|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $wmi and ($create or ($get_class and $script_create))
        )
}

rule EXW_ASP_Computed_Object_Exec
{
    meta:
        id = "exw.ws.asp_computed_object"
        title = "Classic ASP creates a COM object from a computed name and runs request input with it"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.defense_evasion, attack.t1027"
    strings:
        // CreateObject(a & b), CreateObject(name): the ProgID is hidden from string matching.
        $create = /((CreateObject|GetObject)\s*\(|new\s+ActiveXObject\s*\()\s*[A-Za-z_]\w{0,30}\s*(&|\+|\))/ nocase
        // Run, or its output read (the call itself may sit in a string given to Function()).
        $run = /(\.\s*(exec|run|ShellExecute)\b\s*[\( ]|\.\s*StdOut\s*\.\s*ReadAll\b)/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Cookies|ServerVariables)\b|\(\s*["'\w])/ nocase
        $asp = "<%"
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $asp and $create and $run and $req
        )
}

rule EXW_Process_Type_By_Name
{
    meta:
        id = "exw.ws.process_type_by_name"
        title = "Page loads the process classes by a name built at run time and reads request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.defense_evasion, attack.t1027"
    strings:
        // As a string, once the normalised view has joined its pieces (concatenation,
        // char and byte arrays, string.Concat, StringBuilder chains): code that only wants
        // to start a program writes Process.Start; naming the class hides it from rules.
        // ("System.Diagnostics." alone is the prefix of a name finished at run time.)
        $name = /["'](System\.Diagnostics\.(Process(StartInfo)?\b|["'])|ProcessStartInfo["'])/
        $load = /(Type\s*\.\s*GetType|\.\s*GetType\s*\(\s*[A-Za-z_"']|Activator\s*\.\s*CreateInstance|InvokeMember|GetMethod)\s*\(?/
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|ServerVariables|InputStream)\b|\[|\(\s*["'])/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $name and $load and $req
        )
}

rule EXW_PInvoke_Process_Start
{
    meta:
        id = "exw.ws.pinvoke_process"
        title = "Page declares the Win32 process-starting calls itself and reads request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1106"
    strings:
        // extern CreateProcess / CreateProcessAsUser / WinExec / ShellExecute: Process.Start
        // without the class every rule and EDR watches.
        $extern = /extern\s+[\w.]+\s+(CreateProcess(A|W|AsUser[AW]?|WithLogonW|WithTokenW)?|WinExec|ShellExecute(Ex)?[AW]?)\s*\(/
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|ServerVariables)\b|\[|\(\s*["'])/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{]|@\s*\{)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $extern and $req
        )
}
