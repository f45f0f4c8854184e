/*
 * exwatch built-in rules: credential theft at the Exchange log-on. An intruder who can write
 * to the web folders changes the OWA/ECP log-on path (a page, Global.asax, a module, the
 * log-on script) to keep every password users type, written to a file or sent away.
 * Written by the exwatch project from public descriptions of the technique.
 */

rule EXW_Credential_Form_Recorded
{
    meta:
        id = "exw.ws.credential_recorder"
        title = "Server code reads the log-on form's password and writes it to a file or sends it away"
        severity = "high"
        tags = "attack.credential_access, attack.t1056.003, attack.persistence, attack.t1505.003"
    strings:
        // A password-like field read from the form (aliases of Request.Form are spelled out
        // in the normalised view): password, passwd, oldPwd, newPwd1...
        $pw_field = /Request\s*(\.\s*(Form|Params|QueryString|Item))?\s*[\[(]\s*["'][\w$]{0,30}(passw|pwd)\w{0,20}["']\s*[\])]/ nocase
        // Or every form key whose name looks like one.
        $pw_keys = /(AllKeys|\.Keys\b)[^;]{0,200}(IndexOf|Contains|EndsWith)\s*\(\s*["']\w{0,4}(assw|pwd)/ nocase
        $file = /(File\s*\.\s*(AppendAllText|WriteAllText|AppendAllLines|WriteAllLines|WriteAllBytes|AppendText|CreateText)|new\s+(System\.IO\.)?(StreamWriter|FileStream)\s*\()/ nocase
        $net = /(new\s+(System\.Net\.)?(WebClient|TcpClient|UdpClient|HttpClient)\s*\(|WebRequest\s*\.\s*Create\s*\(|\.\s*Upload(String|Values|Data)\s*\()/ nocase
        $code = /(<%|runat\s*=\s*["']?server|IHttpModule|HttpApplication|System\.Web)/ nocase
        // A log-in page of its own checks the password itself (and may keep an audit log);
        // a recorder slipped into OWA's path leaves that to Exchange and only keeps it.
        $validate = /(ValidateUser|ValidateCredentials|LogonUser|PasswordSignIn|CheckPassword|ChangePassword|SetPassword)\s*\(/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $code and ($pw_field or $pw_keys) and ($file or $net)
        and not $validate
}

rule EXW_Credential_Script_Exfil
{
    meta:
        id = "exw.ws.credential_script_exfil"
        title = "Log-on page script reads the password box and sends its value off the form"
        severity = "high"
        tags = "attack.credential_access, attack.t1056.003, attack.persistence"
    strings:
        // The password box's value: by id, or through a variable named for it.
        $pw_value = /(getElementById\s*\(\s*["'](password|passwd|pwd)["']\s*\)\s*\.\s*value|\b\w{0,8}(Pwd|Pass|Password)\w{0,8}\s*\.\s*value\b)/ nocase
        // A log-on form submits itself; these carry data elsewhere behind the user's back.
        $send = /(sendBeacon\s*\(|new\s+Image\s*\(|new\s+XMLHttpRequest\s*\(|\bfetch\s*\(\s*["'])/
        $encode = /(btoa\s*\(|encodeURIComponent\s*\()/
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $pw_value and $send and $encode
}

rule EXW_Mailbox_Export_Page
{
    meta:
        id = "exw.ws.mailbox_export_page"
        title = "Page pulls mail through EWS and packs it into an archive on request (mailbox theft)"
        severity = "high"
        tags = "attack.collection, attack.t1114.002, attack.exfiltration, attack.persistence, attack.t1505.003"
    strings:
        // EWS by its managed API or raw SOAP, listing or exporting items...
        $ews = /(new\s+ExchangeService\s*\(|\/EWS\/Exchange\.asmx)/ nocase
        $items = /(FindItems\s*\(|FindItem\b|ExportItems\b|GetItem\b|LoadPropertiesForItems)/
        // ...into an archive the attacker fetches.
        $archive = /(ZipArchive|ZipFile\s*\.|\.CreateEntry\s*\()/
        $req = /Request\s*(\.\s*(Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|System\.Web\.UI\.Page\b)/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $page and $ews and $items and $archive and $req
}
