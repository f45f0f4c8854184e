/*
 * exwatch built-in rules: deserialization of client data with a formatter that can run code.
 * A ysoserial.net gadget chain posted to such a page runs whatever it carries: a webshell with
 * no command-running code of its own to match. ASP.NET deserializes view state itself; a page
 * has no reason to hand request data to these formatters.
 * Written by the exwatch project from public descriptions of the technique.
 */

rule EXW_Deserialize_Request_Data
{
    meta:
        id = "exw.ws.deserialize_request"
        title = "Page deserializes request data with a formatter that runs code (gadget-chain loader)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.t1059"
    strings:
        $fmt = /(BinaryFormatter|LosFormatter|ObjectStateFormatter|SoapFormatter|NetDataContractSerializer|SimpleTypeResolver)\b/
        $deser = /\.\s*(Deserialize|UnsafeDeserialize|ReadObject)\s*\(/
        $deser_req = /\.\s*(Deserialize|UnsafeDeserialize|ReadObject)\s*\([^;\n]{0,200}Request\s*(\.|\[)/ nocase
        // The request body handed over as a stream (often through a variable).
        $body = /(GetBufferlessInputStream|Request\s*\.\s*(InputStream|BinaryRead)\b)/ nocase
        // Or a value (form field, cookie, header) read into a variable and decoded on the way.
        $decode = /(FromBase64String|UrlDecode|GZipStream|DeflateStream)\s*\(/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[)/ nocase
        // The string formatters take the client's text as it is: no decoding step needed.
        $los = /(LosFormatter|ObjectStateFormatter)\b/
        // A web service's caller hands its data in as method parameters.
        $ws = /\[\s*WebMethod\b/
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $fmt and (
                $deser_req or ($deser and ($body or $ws or ($req and ($decode or $los))))
            )
        )
}
