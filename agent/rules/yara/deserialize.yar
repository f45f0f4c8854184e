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
        // Request data in the call itself, or decoded from the request in a statement before.
        $deser_req = /\.\s*(Deserialize|UnsafeDeserialize|ReadObject)\s*\([^;\n]{0,200}Request\s*(\.|\[)/ nocase
        $b64_req = /FromBase64String\s*\(\s*[^;\n]{0,60}Request\s*(\.|\[)/ nocase
        // The string formatters take the client's text as is: a request value kept in a
        // variable, then that variable deserialized.
        $los = /(LosFormatter|ObjectStateFormatter)\b/
        $deser_var = /\.\s*Deserialize\s*\(\s*[A-Za-z_]\w{0,30}\s*\)/
        $assign_req = /=\s*Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[)/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttpHandler|\[\s*WebMethod\b)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $fmt and (
                $deser_req or ($deser and $b64_req) or ($los and $deser_var and $assign_req)
            )
        )
}
