/*
 * exwatch built-in rules: server-side code evaluation of request data.
 * Family: China Chopper (JScript.NET / VBScript / C# via the JScript engine)
 * and generic "eval what the client sent" one-liners.
 *
 * Written by the exwatch project from public descriptions of the techniques.
 * Every rule pairs an evaluation sink with request-controlled input so that
 * data-binding Eval("Field"), DataBinder.Eval and client-side eval() stay clean.
 * Meta: id (stable, used in events), title, severity, tags (Sigma style, comma separated).
 */

rule EXW_Eval_Unsafe_JScript
{
    meta:
        id = "exw.ws.eval_unsafe"
        title = "JScript.NET eval(..., \"unsafe\"): China Chopper server side"
        severity = "critical"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        // The "unsafe" second argument lifts JScript.NET's sandbox; benign pages never need it.
        $eval_unsafe = /\beval\s*\([^\n]{0,600}["']unsafe["']\s*\)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            $eval_unsafe
        )
}

rule EXW_Eval_Request_Direct
{
    meta:
        id = "exw.ws.eval_request"
        title = "eval/Execute/ExecuteGlobal applied directly to request data"
        severity = "critical"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059"
    strings:
        // Not preceded by '.' (conn.Execute, Server.Execute, DataBinder.Eval); no ')' between the
        // sink and Request, so `Eval("Id") %> ... Request.QueryString` on one line does not match.
        $direct = /(^|[^.\w])(eval|execute|executeglobal)(\s*\(|\s+)[^\n)]{0,160}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Cookies|Headers|BinaryRead|InputStream)\b|\[|\(\s*["'])/ nocase
        // Server-side code only: prose or client script quoting a shell is not one.
        $server = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            $direct and $server
        )
}

rule EXW_JScript_Page_Eval_Request
{
    meta:
        id = "exw.ws.jscript_page_eval"
        title = "Server-side JScript page that evals and reads request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $lang1 = /<%@\s*(Page|WebHandler|WebService)?[^>]{0,200}Language\s*=\s*["']?JScript/ nocase
        $lang2 = /<script[^>]{0,120}language\s*=\s*["']?JScript[^>]{0,120}runat\s*=\s*["']?server/ nocase
        $lang3 = /<script[^>]{0,120}runat\s*=\s*["']?server[^>]{0,120}language\s*=\s*["']?JScript/ nocase
        $eval = /(^|[^.\w])eval\s*\(\s*[^"'\s)]/ nocase
        // this["eval"], Function("...") : eval reached without writing eval( (the normalised
        // view joins "ev" + "al").
        // Also the name kept in a variable (var k = "eval"; this[k](src)).
        $eval_idx = /(\[\s*["']eval["']\s*\]|=\s*["']eval["']\s*[;,\r\n]|(^|[^.\w])(new\s+)?Function\s*\(\s*[A-Za-z_])/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Cookies|Headers|BinaryRead|InputStream)\b|\[|\(\s*["'])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and any of ($lang*) and ($eval or $eval_idx) and $req
        )
}

rule EXW_JScript_Engine_From_CSharp
{
    meta:
        id = "exw.ws.jscript_engine"
        title = "JScript engine evaluation (JScriptEvaluate / VsaEngine) from a page"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $e1 = "JScriptEvaluate" nocase
        $e2 = /VsaEngine\s*\.\s*CreateEngine/ nocase
        $page = /(<%[@=#:\s]|<%[A-Za-z]|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $page and any of ($e*)
        )
}

rule EXW_VBS_Execute_Indirect_Small
{
    meta:
        id = "exw.ws.vbs_execute_small"
        title = "Small classic ASP page executing a computed string with request input"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        // A statement-level Execute/ExecuteGlobal/Eval whose argument is not a string literal.
        $exec = /(^|[\r\n:>]|<%)\s*(execute|executeglobal)\s*(\(|\s)\s*[a-z_(]/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Cookies|BinaryRead)\b|\(\s*["'\w])/ nocase
        $asp = "<%"
        // Dynamic includes (ExecuteGlobal of a file read from disk) are a benign classic-ASP idiom.
        $incl = /(\.\s*ReadAll\b|OpenTextFile\s*\(\s*Server\.MapPath\s*\(\s*["'])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 8KB and $asp and $exec and $req and not $incl
        )
}

rule EXW_VBS_Execute_Decoded_Literal
{
    meta:
        id = "exw.ws.vbs_execute_decoded"
        title = "Classic ASP executes what its own decoding function makes of an encoded string"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1140"
    strings:
        // Execute dx("F~y~f..."), ExecuteGlobal q("68.114.99..."): the code is a literal
        // only the page's own function can read.
        $exec_call = /(^|[\r\n:>]|<%)\s*(execute|executeglobal|eval)\s*(\(\s*|\s+)[A-Za-z_]\w{0,30}\s*\(\s*"[^"\n]{20,}"/ nocase
        // The decoder: characters computed from codes, XOR, or reversal.
        $decoder = /(Chr[WB]?\s*\(\s*(Asc[WB]?|CInt|CLng|Int)\b|\bXor\b|StrReverse\s*\()/ nocase
        $asp = "<%"
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $asp and $exec_call and $decoder
        )
}

rule EXW_VBS_Execute_Indirect
{
    meta:
        id = "exw.ws.vbs_execute"
        title = "Classic ASP page executing a computed string, with request input"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $exec = /(^|[\r\n:>]|<%)\s*(execute|executeglobal)\s*(\(|\s)\s*[a-z_(]/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Cookies|BinaryRead)\b|\(\s*["'\w])/ nocase
        $asp = "<%"
        $incl = /(\.\s*ReadAll\b|OpenTextFile\s*\(\s*Server\.MapPath\s*\(\s*["'])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $asp and $exec and $req and not $incl
        )
}

rule EXW_CodeDom_Compile_Request
{
    meta:
        id = "exw.ws.compile_request"
        title = "Page compiles source code at run time from client input (request data or a web-service call)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1027.004"
    strings:
        $c1 = "CompileAssemblyFromSource"
        $c2 = /(CSharp|VB|JScript)CodeProvider/
        $c3 = /CSharpScript\s*\.\s*(EvaluateAsync|RunAsync|Create)/
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Cookies|Headers|BinaryRead|InputStream)\b|\[|\(\s*["'])/
        // Or its input arrives as a web-service parameter: compiled in memory, then run.
        $ws = /\[\s*WebMethod\b/
        $mem = /GenerateInMemory\s*=\s*true/ nocase
        $run = /CompiledAssembly\s*\.\s*(CreateInstance|GetType|GetTypes|EntryPoint)\b/
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and any of ($c*) and ($req or ($ws and $mem and $run))
        )
}
