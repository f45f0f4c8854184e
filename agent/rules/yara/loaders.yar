/*
 * exwatch built-in rules: reflective .NET loaders (AntSword / Behinder / Godzilla style).
 * The shell receives a compiled assembly (often AES-encrypted, sometimes cached in Session)
 * and loads it with Assembly.Load, then instantiates a class from it.
 * Written by the exwatch project from public descriptions of the technique.
 */

rule EXW_Assembly_Load_Request
{
    meta:
        id = "exw.ws.assembly_load_request"
        title = "Assembly.Load of bytes taken from the request or session"
        severity = "critical"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1620"
    strings:
        // Same statement: Load( ... Request/Session ... ; (e.g. Load(Convert.FromBase64String(Request.Form["k"]))).
        $load_req = /(Assembly|CurrentDomain)\s*\.\s*Load\s*\([^;\n]{0,300}(Request\s*(\.|\[)|Session\s*\[|Context\.Items)/ nocase
        $binread = /Request\s*\.\s*(BinaryRead|InputStream)/ nocase
        // Request data decoded to bytes in one statement, loaded in another.
        $b64_req = /FromBase64String\s*\(\s*[^;\n]{0,60}Request\s*(\.|\[)/ nocase
        // Called, or taken as a method group (Func<byte[], Assembly> f = Assembly.Load;).
        $load = /(Assembly|CurrentDomain)\s*\.\s*Load\s*[\(;,)]/ nocase
        $inst = /\.\s*(CreateInstance|Invoke|GetMethod|EntryPoint)\b/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and ($load_req or ($load and ($binread or $b64_req) and $inst))
        )
}

rule EXW_Assembly_Load_Crypto
{
    meta:
        id = "exw.ws.assembly_load_crypto"
        title = "Decrypt-then-Assembly.Load-then-CreateInstance (encrypted payload loader)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1620, attack.t1140"
    strings:
        // Direct, or reflective (typeof(Assembly).GetMethod("Load").Invoke) to dodge string rules.
        $load = /((Assembly|CurrentDomain)\s*\.\s*Load\s*[\(;,)]|GetMethod\s*\(\s*["']Load["'])/ nocase
        $crypt = /(RijndaelManaged|AesManaged|AesCryptoServiceProvider|Aes\s*\.\s*Create|CreateDecryptor|TransformFinalBlock|(Triple)?DESCryptoServiceProvider|RC2CryptoServiceProvider)/ nocase
        // A byte-wise XOR over an array: the cheapest "cipher" of all (x[i] ^= k[...]).
        $xor = /\]\s*(\^=|=\s*\(\s*byte\s*\)\s*\(\s*[A-Za-z_]\w{0,30}\s*\[[^\]\n]{1,40}\]\s*\^)/ nocase
        $inst = /\.\s*(CreateInstance|Invoke|EntryPoint)\b/ nocase
        $input = /(Request\s*(\.|\[)|Session\s*(\[|\.\s*Add))/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $load and ($crypt or $xor) and $inst and $input
        )
}

rule EXW_Assembly_Load_Embedded_PE
{
    meta:
        id = "exw.ws.assembly_load_embedded"
        title = "Page loads an assembly embedded as base64 or a byte array"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1620, attack.t1027"
    strings:
        $load = /(Assembly|CurrentDomain)\s*\.\s*Load\s*\(/ nocase
        // "TVqQ"/"TVoA"/"TVpQ": base64 of the MZ header; 77,90 / 0x4d,0x5a: MZ as a byte array.
        $b64pe = /["']TV(qQ|oA|pQ|qA)[A-Za-z0-9+\/]{60}/
        $arrpe = /\{\s*(77\s*,\s*90|0x4d\s*,\s*0x5a)\s*,/ nocase
        $dec = "FromBase64String" nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 8MB and $load and (($b64pe and $dec) or $arrpe)
        )
}

rule EXW_Session_Payload_Loader
{
    meta:
        id = "exw.ws.session_loader"
        title = "Assembly cached in Session and instantiated per request"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1620"
    strings:
        $store = /Session\s*\[\s*["'][^"']{1,40}["']\s*\]\s*=\s*[^;]{0,160}(Assembly\s*\.\s*Load|Load\s*\(|["']Load["'])/ nocase
        $use = /\(\s*(System\.Reflection\.)?Assembly\s*\)\s*(\w+\.)?Session\s*\[/ nocase
        $inst = /\.\s*CreateInstance\s*\(/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and ($store or $use) and $inst
        )
}

rule EXW_Assembly_Load_Decoded_Input
{
    meta:
        id = "exw.ws.assembly_load_decoded"
        title = "Request data decoded (base64, compressed) and loaded as an assembly, then instantiated"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1620, attack.t1140"
    strings:
        // Loaded from an expression (a variable, ms.ToArray(), Decode(x)), not a name literal
        // or new AssemblyName(...): bytes, since the decoding is what fills them.
        // Or Load reached by reflection (typeof(Assembly).GetMethod("Load", ...)).
        $load = /((Assembly|CurrentDomain)\s*\.\s*Load\s*\(\s*([A-Za-z_]\w{0,40}\s*\)|[A-Za-z_]\w{0,40}\s*\.\s*ToArray\s*\(|Convert\s*\.\s*FromBase64String)|GetMethod\s*\(\s*["']Load["'])/ nocase
        $dec = /(FromBase64String|GZipStream|DeflateStream)/ nocase
        // Read into a variable first, so not necessarily in the Load statement.
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|InputStream|BinaryRead|GetBufferlessInputStream)\b|\[|\(\s*["'])/ nocase
        $inst = /\.\s*(CreateInstance|Invoke|InvokeMember|GetMethod|EntryPoint|GetExportedTypes)\b/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $load and $dec and $req and $inst
        )
}

rule EXW_Assembly_Reflect_Request
{
    meta:
        id = "exw.ws.assembly_reflect_request"
        title = "Page loads an assembly from a path and hands request data to it by reflection (side-loaded implant)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1574"
    strings:
        $load = /Assembly\s*\.\s*(LoadFrom|LoadFile|UnsafeLoadFrom)\s*\(/ nocase
        // A plugin host calls its plugin through an interface; an implant loader reaches a
        // method by name and passes it what the client sent.
        $invoke_req = /(\.\s*Invoke|InvokeMember)\s*\([^;\n]{0,200}Request\s*(\.|\[|\()/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $load and $invoke_req
        )
}

rule EXW_Native_Shellcode_Runner
{
    meta:
        id = "exw.ws.shellcode_runner"
        title = "Page declares the Windows memory and thread calls that run shellcode or inject into a process"
        severity = "critical"
        tags = "attack.execution, attack.t1055, attack.defense_evasion, attack.t1620, attack.persistence, attack.t1505.003"
    strings:
        $native = /(DllImport|GetDelegateForFunctionPointer|GetProcAddress)/
        // Memory made executable, written into a process, and run: no web page needs two.
        // (kernel32's names and ntdll's beneath them)
        $m1 = /\b(VirtualAlloc(Ex)?|NtAllocateVirtualMemory)\b/
        $m2 = /\b(VirtualProtect(Ex)?|NtProtectVirtualMemory)\b/
        $m3 = /\b(CreateThread|CreateRemoteThread(Ex)?|NtCreateThreadEx|RtlCreateUserThread)\b/
        $m4 = /\b(WriteProcessMemory|NtWriteVirtualMemory)\b/
        $m5 = /\bQueueUserAPC\b/
        $m6 = /\bGetDelegateForFunctionPointer\b/
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{]|@\s*\{)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $native and 2 of ($m*)
        )
}

rule EXW_Execute_Assembly_Request
{
    meta:
        id = "exw.ws.execute_assembly"
        title = "Page runs a whole program in the worker process (AppDomain.ExecuteAssembly) with request input"
        severity = "high"
        tags = "attack.execution, attack.t1620, attack.persistence, attack.t1505.003"
    strings:
        $exec = /\.\s*ExecuteAssembly(ByName)?\s*\(/
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|Files|InputStream|BinaryRead)\b|\[|\(\s*["'])/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $exec and $req
}
