/*
 * exwatch built-in rules: tunnels, config/XSLT-borne server code, and the common PHP/JSP
 * shapes (an Exchange host runs neither, but a file of either in a web root is an intrusion).
 * Written by the exwatch project.
 */

rule EXW_Socket_Tunnel
{
    meta:
        id = "exw.ws.socket_tunnel"
        title = "HTTP-to-TCP tunnel page (socket kept in Session, driven by request data)"
        severity = "high"
        tags = "attack.command_and_control, attack.t1090, attack.t1572, attack.t1505.003"
    strings:
        $sock = /(new\s+(System\.Net\.Sockets\.)?(Socket|TcpClient)\s*\(|SocketChannel\s*\.\s*open|new\s+java\.net\.Socket)/ nocase
        // Where the socket outlives the request: Session, Application, the cache, a static map.
        $sess = /(Session|Application)\s*(\[|\.\s*(Add|Item|Set)\b)|HttpRuntime\s*\.\s*Cache|Cache\s*\[|static\s+[^;\n]{0,60}Dictionary\s*<[^>\n]{0,60}Socket|session\s*\.\s*setAttribute/ nocase
        $req = /(Request\s*(\.\s*(Unvalidated|Headers|QueryString|Form|Item|Params|InputStream|BinaryRead)\b|\[)|request\s*\.\s*get(Header|Parameter|InputStream))/ nocase
        $io = /(BinaryWrite|BinaryRead|InputStream|OutputStream|\.\s*Receive\s*\(|\.\s*Send\s*\()/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $sock and $sess and $req and $io
        )
}

rule EXW_Config_With_Server_Code
{
    meta:
        id = "exw.ws.config_code"
        title = "web.config carrying inline server code (config-file webshell)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $cfg = /<configuration[\s>]/ nocase
        // Anchored on "<%" (rare in configs) so the scan stays cheap on code-heavy files.
        $code = /<%[=\s]*(eval|execute|CreateObject|Response\s*\.\s*Write|Request\s*[\.\[\(]|Set\s|Dim\s|If\s|var\s|string\s|System\.)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 1MB and $cfg and $code
        )
}

rule EXW_XSLT_Script_Exec
{
    meta:
        id = "exw.ws.xslt_script"
        title = "XSLT with an embedded script block that runs processes or loads code"
        severity = "high"
        tags = "attack.execution, attack.t1220, attack.t1505.003"
    strings:
        $xsl = /msxsl:script/ nocase
        $sink = /(Process\s*\.\s*Start|ProcessStartInfo|Assembly\s*\.\s*Load|WScript\.Shell|ActiveXObject)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $xsl and $sink
        )
}

rule EXW_XSLT_Trusted_From_Request
{
    meta:
        id = "exw.ws.xslt_trusted_request"
        title = "Page runs a client-supplied XSLT stylesheet with scripts enabled (code execution)"
        severity = "high"
        tags = "attack.execution, attack.t1220, attack.t1505.003"
    strings:
        // XsltSettings(enableDocumentFunction, enableScript): the second true lets the
        // stylesheet's msxsl:script blocks compile and run as .NET code.
        $trusted = /(XsltSettings\s*\(\s*(true|false)\s*,\s*true\s*\)|XsltSettings\s*\.\s*TrustedXslt|EnableScript\s*=\s*true)/ nocase
        $xslt = /XslCompiledTransform/ nocase
        // The stylesheet comes from the client: in the Load call, or as text read into a reader.
        $load_req = /\.\s*Load\s*\([^;\n]{0,200}Request\s*(\.|\[|\()/ nocase
        $text_reader = /new\s+(System\.IO\.)?StringReader\s*\(/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|InputStream|Files)\b|\[|\(\s*["'])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $trusted and $xslt and ($load_req or ($text_reader and $req))
        )
}

rule EXW_Socket_Relay
{
    meta:
        id = "exw.ws.socket_relay"
        title = "Handler relays the request body to a raw TCP connection (streaming tunnel)"
        severity = "high"
        tags = "attack.command_and_control, attack.t1090, attack.t1572, attack.t1505.003"
    strings:
        $sock = /new\s+(System\.Net\.Sockets\.)?(Socket|TcpClient)\s*\(/ nocase
        $connect = /\.\s*(Connect|ConnectAsync|BeginConnect)\s*\(/ nocase
        // The body read as a stream as it arrives; the answer streamed back unbuffered.
        $body = /(GetBufferlessInputStream|Request\s*\.\s*(InputStream|BinaryRead)\b)/ nocase
        $stream_out = /(BufferOutput\s*=\s*false|OutputStream\s*\.\s*(Write|WriteAsync)\s*\(|\.\s*BinaryWrite\s*\()/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|IHttpAsyncHandler|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 2MB and $page and $sock and $connect and $body and $stream_out
        )
}

rule EXW_PHP_Eval_Input
{
    meta:
        id = "exw.ws.php_eval"
        title = "PHP code execution of request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $direct = /\b(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|create_function|call_user_func)\s*\([^;]{0,120}\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b/ nocase
        $decoded = /\b(eval|assert)\s*\(\s*(base64_decode|gzinflate|gzuncompress|str_rot13|strrev)\s*\(/ nocase
        $php = "<?"
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $php and ($direct or $decoded)
        )
}

rule EXW_JSP_Exec_Input
{
    meta:
        id = "exw.ws.jsp_exec"
        title = "JSP command execution, class loading or script evaluation from request data"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003"
    strings:
        $exec = /(Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec|new\s+ProcessBuilder)\s*\(/
        // What runs comes from the client: in the call, through a shell, or a variable
        // holding a parameter as it came (a report tool run with a parsed date is no shell).
        $exec_req = /(\.\s*exec|new\s+ProcessBuilder|\.\s*command)\s*\([^;]{0,160}request\s*\.\s*get(Parameter|Header)/
        $shell = /["']((cmd|cmd\.exe|powershell|powershell\.exe)|\/bin\/(ba)?sh|bash|sh|\/c|-c)["']/ nocase
        $exec_var = /(\.\s*exec|new\s+ProcessBuilder)\s*\(\s*[A-Za-z_]\w{0,30}\s*\)/
        $assign_param = /=\s*request\s*\.\s*get(Parameter|Header)\s*\(/
        $param = /request\s*\.\s*get(Parameter|Header|InputStream|Reader)\s*\(/
        // Called, or reached by reflection (getDeclaredMethod("defineClass", ...)).
        $define = /(defineClass\s*\(|["']defineClass["'])/
        $crypt = /(Cipher\s*\.\s*getInstance|BASE64Decoder|Base64\s*\.\s*getDecoder)/
        // A script engine (JavaScript, Groovy...) evaluating what the client sent.
        $engine = /getEngineBy(Name|Extension|MimeType)\s*\(/
        $engine_eval = /\.\s*eval\s*\(/
        $jsp = /(<%|<jsp:)/
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $jsp and $param and (
                ($exec and ($exec_req or $shell or ($exec_var and $assign_param)))
                or ($define and $crypt) or ($engine and $engine_eval)
            )
        )
}

rule EXW_PHP_Shell_Capabilities
{
    meta:
        id = "exw.ws.php_capabilities"
        title = "PHP page combining command execution, host reconnaissance and file/network access"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.discovery"
    strings:
        $exec = /\b(shell_exec|passthru|system|proc_open|popen|exec)\s*\(/
        $recon = /(php_uname|disable_functions|safe_mode|posix_getpwuid|getmyuid)/
        $fs = /(move_uploaded_file|fsockopen|\bunlink\s*\(|\bchmod\s*\()/
        // A request value called as a function: $_GET['f'](...), also ${'_GET'}[0](...).
        $dyn = /(\$_|\$\{\s*["']_)(GET|POST|REQUEST|COOKIE)(["']\s*\})?\s*\[[^\]]{1,40}\]\s*\(/
        $req = /\$_(GET|POST|REQUEST|COOKIE|FILES)\b/
        $php = "<?"
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $php and ($dyn or ($exec and $recon and $fs and $req))
}

rule EXW_SSI_Exec
{
    meta:
        id = "exw.ws.ssi_exec"
        title = "Server-side include runs a command (#exec)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution"
    strings:
        // <!--#exec cmd="..."--> in an .shtml/.stm page: no site needs the server to run
        // a shell per request; IIS has it off by default, so its presence is the intent.
        $exec = /<!--\s*#\s*exec\s+(cmd|cgi)\s*=/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $exec
}

rule EXW_PHP_Decoded_Eval
{
    meta:
        id = "exw.ws.php_decoded_eval"
        title = "PHP evaluates code it decoded or decrypted, in a page that reads the request"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1140"
    strings:
        // eval of a variable or expression (eval($code), eval($p.""), assert($x)), or of a
        // decoder's output directly, also after the "?>" prefix packed shells put first.
        $eval_var = /\b(eval|assert)\s*\(\s*@?\$\w+/ nocase
        $eval_dec = /\b(eval|assert)\s*\(\s*(["']\?>["']\s*\.\s*)?@?(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|openssl_decrypt|hex2bin)\s*\(/ nocase
        $decode = /\b(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|openssl_decrypt|mcrypt_decrypt|hex2bin)\s*\(/ nocase
        $input = /(\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b|php:\/\/input|getallheaders\s*\()/ nocase
        $php = "<?"
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $php and (
            $eval_dec or ($eval_var and $decode and $input)
        )
}

rule EXW_PHP_Dynamic_Code
{
    meta:
        id = "exw.ws.php_dynamic_code"
        title = "PHP runs code from the request: request-named include, preg_replace /e, or a code function called by a variable"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion, attack.t1027"
    strings:
        // include/require of a request value or an uploaded file's temporary copy.
        $include_req = /\b(include|require)(_once)?\s*\(?\s*@?\$_(GET|POST|REQUEST|COOKIE|FILES)\b/ nocase
        // The /e modifier made preg_replace evaluate its replacement (removed in PHP 7).
        $preg_e = /preg_replace\s*\(\s*["'][^"'\n]{0,200}\/[imsxuUXAD]*e[imsxuUXAD]*["']\s*,/
        // A code-running function's name kept in a variable ($f = "create_function"; $f(...)),
        // once string splits are undone by the normalised view.
        $fn_var = /\$\w+\s*=\s*["'](create_function|assert|eval|system|shell_exec|passthru|exec|popen|proc_open|pcntl_exec)["']\s*;/ nocase
        // Weevely-style: the code cut into pieces with a junk token that str_replace removes.
        $junk = /str_replace\s*\(\s*["'][^"'\n]{1,8}["']\s*,\s*["']["']\s*,\s*["']/ nocase
        $input = /(\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b|php:\/\/input)/ nocase
        $php = "<?"
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $php and (
            $include_req or ($preg_e and $input) or $fn_var or #junk >= 4
        )
}

rule EXW_JSP_Reflective_Exec
{
    meta:
        id = "exw.ws.jsp_reflective_exec"
        title = "JSP reaches process execution through reflection with request input"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.defense_evasion"
    strings:
        $forname = /Class\s*\.\s*forName\s*\(/
        $invoke = /\.\s*invoke\s*\(/
        // What comes back is a process: a cast, its output read, or the JDK's ProcessImpl.
        $proc = /(\(\s*(java\.lang\.)?Process\s*\)|ProcessImpl|getRuntime)/
        $param = /request\s*\.\s*get(Parameter|Header|InputStream|Reader)\s*\(/
        $jsp = /(<%|<jsp:)/
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $jsp and $param and $forname and $invoke and $proc
}

rule EXW_PHP_Callback_Input
{
    meta:
        id = "exw.ws.php_callback_input"
        title = "PHP runs a callback, wrapper or command that the request names or carries"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution, attack.defense_evasion"
    strings:
        // A callback taken from the request: first argument of these...
        $cb_first = /\b(call_user_func(_array)?|array_map|register_shutdown_function|register_tick_function|ob_start|forward_static_call(_array)?|iterator_apply)\s*\(\s*@?\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        // ...second argument of these.
        $cb_second = /\b(usort|uasort|uksort|array_filter|array_walk(_recursive)?|preg_replace_callback)\s*\(\s*[^,;]{1,100},\s*@?\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        // Or a code-running function handed over as the callback by name.
        $cb_named = /\b(call_user_func(_array)?|array_map|array_filter|array_walk|usort|uasort|uksort|preg_replace_callback|register_shutdown_function|register_tick_function|ob_start|iterator_apply)\s*\([^;]{0,100}["'](assert|system|passthru|exec|shell_exec|popen|proc_open|eval|create_function|pcntl_exec)["']/ nocase
        // create_function whose body is decoded or comes from the request.
        $create_fn = /create_function\s*\([^;]{0,120}(str_rot13|base64_decode|gzinflate|gzuncompress|strrev|\$_(GET|POST|REQUEST|COOKIE))/ nocase
        // mb_ereg_replace with the "e" option evaluates its replacement.
        $mb_e = /mb_eregi?_replace\s*\([^;]{0,300},\s*["'][a-z]*e[a-z]*["']\s*\)/ nocase
        // Backticks are shell_exec.
        $backtick = /`[^`\n]{0,60}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        // Code included from the request body or a data: URL.
        $include_wrapper = /\b(include|require)(_once)?\s*\(?\s*["'](php:\/\/input|php:\/\/filter|data:)/ nocase
        // register_globals by hand, then a variable called as a function.
        $extract = /extract\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $var_call = /\$[A-Za-z_]\w{0,30}\s*\(\s*\$[A-Za-z_]/
        $input = /(\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|php:\/\/input)/ nocase
        // In a small page: a request value kept in a variable, a callback given as a variable.
        $assign_req = /\$[A-Za-z_]\w{0,30}\s*=\s*@?\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $cb_var = /\b(call_user_func(_array)?|array_map|register_shutdown_function|register_tick_function|ob_start|forward_static_call(_array)?)\s*\(\s*\$[A-Za-z_]\w{0,30}\s*[,)]/ nocase
        $php = "<?"
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $php and (
            $cb_first or $cb_second or $cb_named or $create_fn or $backtick or $include_wrapper
            or ($mb_e and $input) or ($extract and $var_call)
            or (filesize < 8KB and $assign_req and $cb_var)
        )
}

rule EXW_PHP_Script_Writer
{
    meta:
        id = "exw.ws.php_script_writer"
        title = "PHP writes request data to a .php file, or saves an upload under the client's name"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        $write = /\b(file_put_contents|fopen)\s*\(/ nocase
        // Request data in the write itself...
        $write_req = /\b(file_put_contents|fwrite|fputs)\s*\([^;]{0,200}\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        // ...in a page that appends a script extension to a name it builds,
        $php_ext = /["']\.ph(p\d?|tml|ar)["']/ nocase
        // or the name itself from the request, the extension appended.
        $name_php = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\.\s*["']\.ph(p\d?|tml|ar)["']/ nocase
        // move_uploaded_file to a path holding the upload's own name, unchecked.
        $move = /move_uploaded_file\s*\(/ nocase
        $client_name = /\$_FILES\s*\[[^\]]{1,40}\]\s*\[\s*["']name["']\s*\]/ nocase
        $c1 = /(pathinfo|PATHINFO_EXTENSION|getimagesize|finfo_|mime_content_type|in_array|preg_match|sanitize_file_name|uniqid|md5\s*\(|sha1\s*\()/ nocase
        $php = "<?"
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $php and (
            ($write_req and $php_ext) or ($name_php and $write)
            or (filesize < 4KB and $move and $client_name and not $c1)
        )
}

rule EXW_JSP_EL_Exec
{
    meta:
        id = "exw.ws.jsp_el_exec"
        title = "JSP expression language reaching Runtime.exec or a process builder"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution"
    strings:
        $el = /\$\{[^}\n]{0,300}(getRuntime\s*\(\s*\)\s*\.\s*exec|ProcessBuilder|["']java\.lang\.Runtime["'])/
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $el
}

rule EXW_JSP_File_Write_Request
{
    meta:
        id = "exw.ws.jsp_file_write"
        title = "JSP writes a file into the web application under a name the client chooses"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        $root = /getRealPath\s*\(/
        $fos = /new\s+(java\.io\.)?(FileOutputStream|FileWriter)\s*\(/
        $param = /request\s*\.\s*getParameter\s*\(/
        // An uploaded item saved under its own (client-sent) name.
        $upload_name = /new\s+(java\.io\.)?File\s*\([^;\n]{0,100}\.\s*getName\s*\(\s*\)\s*\)/
        $jsp = /(<%|<jsp:)/
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $jsp and $root and (($fos and $param) or $upload_name)
}
