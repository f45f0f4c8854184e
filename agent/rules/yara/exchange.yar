/*
 * exwatch built-in rules: Exchange-specific webshell drops (ProxyLogon, ProxyShell).
 * Facts: ProxyLogon (CVE-2021-26855 + CVE-2021-27065) wrote a JScript shell into the
 * ExternalUrl of the OAB virtual directory and exported its config to an .aspx path.
 * ProxyShell (CVE-2021-34473/34523/31207) exported a mailbox as PST (magic "!BDN") or a
 * certificate request (DER, 0x30 0x82) to an .aspx path; the embedded directive survives.
 * Written by the exwatch project from these public facts.
 */

rule EXW_ProxyShell_PST_Export
{
    meta:
        id = "exw.ws.proxyshell_pst"
        title = "PST file (magic !BDN) containing an ASP.NET directive: ProxyShell export shell"
        severity = "critical"
        tags = "attack.initial-access, attack.t1190, attack.t1505.003, cve.2021-34473, cve.2021-34523, cve.2021-31207"
    strings:
        $page = /(Page\s+Language\s*=|<script[^>]{0,100}runat\s*=\s*["']?server)/ nocase
    condition:
        uint32(0) == 0x4e444221 and $page
}

rule EXW_ProxyShell_DER_Export
{
    meta:
        id = "exw.ws.proxyshell_der"
        title = "DER certificate request containing an ASP.NET directive: exported shell"
        severity = "high"
        tags = "attack.initial-access, attack.t1190, attack.t1505.003, cve.2021-34473, cve.2021-31207"
    strings:
        $page = /(Page\s+Language\s*=|<script[^>]{0,100}runat\s*=\s*["']?server)/ nocase
    condition:
        uint16(0) == 0x8230 and filesize < 256KB and $page
}

rule EXW_ASPX_Binary_Prefix
{
    meta:
        id = "exw.ws.binary_prefix"
        title = "Binary bytes before the first server directive (dropper/export artefact)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion"
    strings:
        $dir = /(<%@\s*(Page|WebHandler|WebService|Control|Import|Assembly)\b|<script[^>]{0,100}runat\s*=\s*["']?server)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 16MB and $dir
            and uint8(0) != 0x3c
            // Not a UTF-8 BOM, which editors legitimately write.
            and not (uint8(0) == 0xEF and uint8(1) == 0xBB and uint8(2) == 0xBF)
            and for any i in (0..7) : (
                i < @dir[1] and (uint8(i) < 0x09 or (uint8(i) > 0x0d and uint8(i) < 0x20) or uint8(i) >= 0x7f)
            )
        )
}

rule EXW_Image_Polyglot_Server_Code
{
    meta:
        id = "exw.ws.image_polyglot"
        title = "Image header followed by server-side code (polyglot webshell)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1027"
    strings:
        // Server code right after "<%": a bare "<%" occurs by chance in compressed image data.
        $code = /(<script[^>]{0,100}runat\s*=\s*["']?server|<%[@=\s]*(Page\b|eval|execute|Response|Request|Dim\s|Set\s|var\s|if\s*\())/ nocase
    condition:
        filesize < 8MB and $code and (
            uint32(0) == 0x38464947            // "GIF8"
            or uint32(0) == 0x474e5089         // "\x89PNG"
            or (uint16(0) == 0xd8ff and uint8(2) == 0xff)  // JPEG
            or uint16(0) == 0x4d42             // "BM"
        )
}

rule EXW_OAB_Config_Shell
{
    meta:
        id = "exw.ws.oab_config"
        title = "Exported virtual-directory config with server script in a URL (ProxyLogon OAB shell)"
        severity = "critical"
        tags = "attack.initial-access, attack.t1190, attack.t1505.003, cve.2021-26855, cve.2021-27065"
    strings:
        $url = /(ExternalUrl|InternalUrl)/ nocase
        $script = /<script[^>]{0,200}runat\s*=\s*["']?server/ nocase
        $code = /(<%|eval\s*\(|Request\s*[\.\[\(])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $url and $script and $code
        )
}

rule EXW_Exchange_Shell_Parameters
{
    meta:
        id = "exw.ws.exchange_shell_params"
        title = "Request parameter names seen in Exchange webshell campaigns"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, cve.2021-34473"
    strings:
        $p = /Request\s*(\.\s*\w{2,12})?\s*[\[\(]\s*["'](gold8899|exec_code|orangenb)["']/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $p
        )
}

rule EXW_IIS_VirtualDirectory_ProgramData
{
    meta:
        id = "exw.iis.vdir_programdata"
        title = "IIS virtual directory served from ProgramData or All Users (ProxyShell-era persistence)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $config = "<configuration" nocase
        $sites = "<sites>" nocase
        $vdir = /<virtualDirectory[^>]{0,400}physicalPath\s*=\s*"[A-Za-z]:\\(ProgramData|Users\\All Users)\\/ nocase
    condition:
        $config and $sites and $vdir
}
