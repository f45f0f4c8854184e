/*
 * exwatch built-in rules: upload-and-save droppers and file writers whose destination or
 * content the client controls. Benign upload forms save to a fixed folder after validating the
 * extension; these rules fire on the client choosing the path, or on a tiny unvalidated saver.
 * Written by the exwatch project from public descriptions of the techniques.
 */

rule EXW_Upload_Path_From_Request
{
    meta:
        id = "exw.ws.upload_path_request"
        title = "Uploaded file saved to a path the client chooses"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.command_and_control, attack.t1105"
    strings:
        $saveas = /\.\s*SaveAs\s*\([^;\n]{0,200}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $saveas
        )
}

rule EXW_Upload_Tiny_Unvalidated
{
    meta:
        id = "exw.ws.upload_tiny"
        title = "Tiny page saving uploaded files without validating them"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        // The posted file may go through a variable first (var f = Request.Files[0];
        // f.SaveAs(...)): in a page this small, both appearing is the saver.
        $files = /Request\s*\.\s*Files\b/ nocase
        $saveas = /(\.\s*SaveAs\s*\(|["']SaveAs["'])/ nocase
        $v1 = "GetExtension" nocase
        $v2 = "EndsWith" nocase
        $v3 = "ContentType" nocase
        $v4 = "Extension" nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 3KB and $files and $saveas and not any of ($v*)
        )
}

rule EXW_File_Write_From_Request
{
    meta:
        id = "exw.ws.file_write_request"
        title = "File written to a client-chosen path, or request bytes decoded into a file"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        // The first argument (the path) contains request data.
        $path_in = /(File\s*\.\s*(WriteAllBytes|WriteAllText|AppendAllText|WriteAllLines|Create|OpenWrite)|new\s+(System\.IO\.)?(StreamWriter|FileStream|BinaryWriter))\s*\(\s*[^,;)\n]{0,160}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
        $b64_in = /WriteAllBytes\s*\([^;\n]{0,200}FromBase64String\s*\(\s*[^;\n]{0,40}Request\s*(\.|\[|\()/ nocase
        // Classic ASP: FSO/ADODB.Stream file creation with a request-controlled path.
        $asp_in = /(CreateTextFile|OpenTextFile|SaveToFile|DeleteFile|DeleteFolder|CopyFile|MoveFile|CreateFolder)\s*\(?\s*[^,\n]{0,160}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item)\b|\(\s*["'\w])/ nocase
        // .NET delete/move/copy of a path taken straight from the request.
        $ops_in = /(File|Directory)\s*\.\s*(Delete|Move|Copy)\s*\(\s*[^,;)\n]{0,120}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params)\b|\[)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and any of them
        )
}

rule EXW_File_Timestomp_From_Request
{
    meta:
        id = "exw.ws.timestomp"
        title = "Page sets file timestamps (time-stomping), a webshell file manager feature"
        severity = "medium"
        tags = "attack.defense_evasion, attack.t1070.006, attack.t1505.003"
    strings:
        $set = /(File|Directory)\s*\.\s*Set(CreationTime|LastWriteTime|LastAccessTime)(Utc)?\s*\(/ nocase
        $assign = /\.\s*(CreationTime|LastWriteTime|LastAccessTime)(Utc)?\s*=\s*[^=]/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params)\b|\[)/ nocase
        $page = /(<%@|runat\s*=\s*["']?server|IHttp(Handler|Module)\b|\[\s*WebMethod\b|System\.Web\.UI\.Page\b|Inherits\s+Page\b|:\s*Page\s*[\r\n{])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $page and $req and ($set or $assign)
        )
}

rule EXW_Upload_Small_Page_Unvalidated
{
    meta:
        id = "exw.ws.upload_small"
        title = "Small page saving an uploaded file under the client's file name without validation"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        $save = /\.\s*SaveAs\s*\([^;\n]{0,160}\.\s*FileName\s*\)/ nocase
        $v1 = "GetExtension" nocase
        $v2 = "EndsWith" nocase
        $v3 = "ContentType" nocase
        $v4 = "Extension" nocase
        $v5 = "Guid" nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 3KB and $save and not any of ($v*)
}

rule EXW_Write_Into_Bin
{
    meta:
        id = "exw.ws.write_bin"
        title = "Page writes files into the application's bin or App_Code folder (code it will load)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        $bin = /["'](~?\/bin\/|~?\\\\bin\\\\|~?\/App_Code\/|~?\\\\App_Code\\\\)/ nocase
        $write = /(WriteAll(Bytes|Text)|AppendAllText|\.\s*SaveAs|new\s+(System\.IO\.)?(FileStream|StreamWriter|BinaryWriter)|File\s*\.\s*(Create|OpenWrite|Copy|Move)|SaveToFile|CreateTextFile)\s*\(/ nocase
        $req = /Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies|Files|InputStream|BinaryRead)\b|\[|\(\s*["'])/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and $bin and $write and $req
        )
}

rule EXW_Mapped_Request_Path_Written
{
    meta:
        id = "exw.ws.request_path_written"
        title = "Page maps a path from request data and writes a file"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        // The request value inside MapPath, or joined onto a mapped folder; never through a
        // call such as Path.GetFileName (no parentheses in between), which strips the folders.
        $map_in = /MapPath\s*\([^;\n()]{0,80}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
        $map_join = /MapPath\s*\([^)\n]{0,60}\)\s*(&|\+)[^;\n()]{0,60}Request\s*(\.\s*(Unvalidated|Form|QueryString|Item|Params|Headers|Cookies)\b|\[|\(\s*["'])/ nocase
        $write = /(CreateTextFile|SaveToFile|WriteAll(Bytes|Text|Lines)|AppendAllText|\.\s*SaveAs\s*\(|new\s+(System\.IO\.)?(StreamWriter|FileStream|BinaryWriter)\s*\(|File\s*\.\s*(Create|OpenWrite)\s*\(|OpenTextFile\s*\([^)\n]{0,100},\s*(2|8|ForWriting|ForAppending)\b)/ nocase
    condition:
        // Never a PE image: compiled assemblies carry these names as metadata.
        uint16(0) != 0x5a4d and (
            filesize < 4MB and ($map_in or $map_join) and $write
        )
}

rule EXW_ASP_Request_Body_Saved
{
    meta:
        id = "exw.ws.asp_body_saved"
        title = "Classic ASP page saves the raw request body to a file (an uploader)"
        severity = "medium"
        tags = "attack.persistence, attack.t1505.003, attack.t1105"
    strings:
        $read = /Request\s*\.\s*BinaryRead\b/ nocase
        $stream = "ADODB.Stream" nocase
        $save = /\.\s*SaveToFile\b/ nocase
        $asp = "<%"
        // An upload form for one kind of document checks the extension (ext, strExt,
        // fileExtension; not "Text", hence no t before "ext") against a literal, an
        // allow-list entry, or with InStr in a list; an attacker's uploader keeps whatever
        // name and type it is sent.
        $ext_check = /(\b(\w{0,8}[a-su-z_])?ext(ension)?\s*(<>|=)\s*("\.?[a-z0-9]{2,5}"|[a-z]\w{0,30}\s*\(\s*\w+\s*\))|InStr\s*\(\s*[^,\n]{1,60},\s*(\w{0,8}[a-su-z_])?ext(ension)?\b)/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $asp and $read and $stream and $save and not $ext_check
}

rule EXW_ASP_Write_Then_Execute
{
    meta:
        id = "exw.ws.asp_write_then_execute"
        title = "Classic ASP page writes request data to a script file and runs it with Server.Execute"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.execution"
    strings:
        // Server.Execute of a computed path: pages include fixed ones by literal name.
        $run = /Server\s*\.\s*(Execute|Transfer)\s*\(?\s*[A-Za-z_]\w{0,30}\s*(\)|\r|\n|:|%>)/ nocase
        $write = /(SaveToFile|CreateTextFile|OpenTextFile\s*\([^)\n]{0,100},\s*(2|8|ForWriting|ForAppending)\b)/ nocase
        $req = /Request\s*(\.\s*(Form|QueryString|Item|Cookies|BinaryRead|ServerVariables)\b|\(\s*["'\w])/ nocase
        $asp = "<%"
    condition:
        uint16(0) != 0x5a4d and filesize < 4MB and $asp and $run and $write and $req
}
