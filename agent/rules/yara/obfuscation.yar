/*
 * exwatch built-in rules: obfuscation that feeds an execution sink.
 * Benign pages decode base64 (images) and reverse strings, but they do not hand the result
 * to eval/Execute/Assembly.Load. Written by the exwatch project.
 */

rule EXW_Base64_Decoded_Then_Executed
{
    meta:
        id = "exw.ws.base64_exec"
        title = "Base64 decoded and executed in the same expression"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1140, attack.t1027"
    strings:
        $nested = /(^|[^.\w])(eval|execute|executeglobal|JScriptEvaluate|Load)\s*\([^;\n]{0,200}(FromBase64String|base64_?decode|atob)\s*\(/ nocase
        // A long literal blob, a decoder, and an execution sink anywhere in a server page.
        $blob = /["'][A-Za-z0-9+\/]{400,}={0,2}["']/
        $dec = /(FromBase64String|Base64Decode|DecodeBase64)\s*\(/ nocase
        $sink = /((^|[^.\w#])(eval|execute|executeglobal)\s*\(\s*[A-Za-z_]|Assembly\s*\.\s*Load\s*\(|JScriptEvaluate)/ nocase
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 8MB and ($nested or ($server and $blob and $dec and $sink))
        )
}

rule EXW_Reversed_Or_Charcode_Then_Executed
{
    meta:
        id = "exw.ws.decode_exec"
        title = "String reversal or character-code assembly feeding eval/Execute"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1027"
    strings:
        $rev_vbs = /StrReverse\s*\(/ nocase
        $rev_js = /\.\s*split\s*\(\s*["']["']\s*\)\s*\.\s*reverse\s*\(\s*\)\s*\.\s*join\s*\(/ nocase
        $chr = /(chr[wb]?\s*\(\s*(&h)?[0-9a-f]{1,4}\s*\)\s*[&+]\s*){8}/ nocase
        $fcc = /fromCharCode\s*\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}/ nocase
        // VBScript Execute only at statement start (prose "execute the ..." is not code).
        $sink = /((^|[\r\n:]|<%)[ \t]*(execute|executeglobal)[ \t]*[\( ][ \t]*[A-Za-z_(]|(^|[^.\w#])eval\s*\(\s*[A-Za-z_(])/ nocase
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $server and $sink and
            ($rev_vbs or $rev_js or $chr or $fcc)
        )
}

rule EXW_Script_Encoded_Server_Code
{
    meta:
        id = "exw.ws.script_encoded"
        title = "Server-side script hidden with the Windows Script Encoder (#@~^)"
        severity = "medium"
        tags = "attack.defense_evasion, attack.t1027, attack.t1505.003"
    strings:
        $lang = /(VBScript|JScript)\.Encode/ nocase
        $marker = "#@~^"
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $server and $marker and $lang
        )
}

rule EXW_Request_Variable_Executed
{
    meta:
        id = "exw.ws.request_var_execute"
        title = "Request value stored in a variable that VBScript then executes"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        // x = Request("k") ... Execute x   (Execute is VBScript-only; C# and VB.NET have no such statement)
        $assign = /\b[A-Za-z_]\w{0,30}\s*=\s*Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Cookies)\b\s*)?[\[\(]\s*["'][^"']{1,40}["']\s*[\]\)]/ nocase
        $execvar = /(^|[^.\w#])(execute|executeglobal)\s*(\(\s*|\s+)[A-Za-z_]\w{0,30}\s*(\)|\r|\n|:|%>)/ nocase
        $dotnet = /Language\s*=\s*["']?(C#|CSharp|VB)["'\s%>]/ nocase
        $asp = "<%"
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 256KB and $asp and $assign and $execvar and not $dotnet
            // The last Execute comes after the first request assignment.
            and @execvar[#execvar] > @assign[1]
        )
}

rule EXW_Request_Variable_Evaluated
{
    meta:
        id = "exw.ws.request_var_eval"
        title = "Request value stored in a variable that is later passed to eval"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $assign = /\b[A-Za-z_]\w{0,30}\s*=\s*Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Cookies)\b\s*)?[\[\(]\s*["'][^"']{1,40}["']\s*[\]\)]/ nocase
        $evalvar = /(^|[^.\w#])eval\s*\(\s*[A-Za-z_]\w{0,30}\s*(\)|,)/ nocase
        $dotnet = /Language\s*=\s*["']?(C#|CSharp|VB)["'\s%>]/ nocase
        $asp = "<%"
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 16KB and $asp and $assign and $evalvar and not $dotnet
            and @evalvar[#evalvar] > @assign[1]
        )
}

rule EXW_Encoded_Sink_Names
{
    meta:
        id = "exw.ws.encoded_sink_names"
        title = "Server page carries the name of a process or shell API reversed, in hex or in base64"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1027"
    strings:
        // Nothing but a webshell hides these names from the reader; decoded at run time.
        $rev1 = "ssecorP.scitsongaiD.metsyS" nocase
        $rev2 = "ofnItratSssecorP" nocase
        $rev3 = "exe.dmc" nocase
        $rev4 = "llehS.tpircSW" nocase
        $rev5 = "llehsrewop" nocase
        $rev6 = "noitacilppA.llehS" nocase
        $hex1 = "53797374656d2e446961676e6f7374696373" nocase
        $hex2 = "50726f636573735374617274496e666f" nocase
        $hex3 = "636d642e657865" nocase
        $hex4 = "575363726970742e5368656c6c" nocase
        $hex5 = "706f7765727368656c6c" nocase
        $b641 = "System.Diagnostics.Process" base64
        $b642 = "ProcessStartInfo" base64
        $b643 = "cmd.exe /c" base64
        $b644 = "WScript.Shell" base64
        $b645 = "powershell" base64
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $server and any of ($rev*, $hex*, $b64*)
        )
}

rule EXW_Reflection_Computed_Names
{
    meta:
        id = "exw.ws.reflection_computed"
        title = "Page looks up a type or method by a name a function computes, invokes it, and reads request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.defense_evasion, attack.t1027"
    strings:
        // GetType(D("...")): the type's name is the output of a decoder, not a literal or a
        // variable (plugin dispatch names its types in plain text).
        $type_call = /(Type\s*\.\s*GetType|\.\s*GetType|GetTypeFromProgID)\s*\(\s*[A-Za-z_]\w{0,30}\s*\(/
        $method_call = /(GetMethod|InvokeMember|GetProperty)\s*\(\s*[A-Za-z_]\w{0,30}\s*\(/
        $type = /(Type\s*\.\s*GetType|GetTypeFromProgID)\s*\(/
        $method = /(GetMethod|InvokeMember|GetProperty)\s*\(/
        $invoke = /(\.\s*Invoke\s*\(|InvokeMember\s*\()/
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|InputStream)\b|\[|\(\s*["'])/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $invoke and $req and (
                ($type_call and $method) or ($method_call and $type)
            )
        )
}
