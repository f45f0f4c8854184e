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
        $assign = /\b[A-Za-z_]\w{0,30}\s*=\s*Request\s*(\.\s*(Form|QueryString|Item|Cookies)\b\s*)?[\[\(]\s*["'][^"']{1,40}["']\s*[\]\)]/ nocase
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
        $assign = /\b[A-Za-z_]\w{0,30}\s*=\s*Request\s*(\.\s*(Form|QueryString|Item|Params|Cookies)\b\s*)?[\[\(]\s*["'][^"']{1,40}["']\s*[\]\)]/ nocase
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
