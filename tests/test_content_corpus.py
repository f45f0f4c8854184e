"""Detection and false-positive rates on our own sample corpus (tests/data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_content_samples import (
    BENIGN,
    CHOPPER,
    WEBSHELLS,
    der_export_shell,
    dropper_prefix_shell,
    encodings,
    gif_polyglot_shell,
    pst_export_shell,
)

from agent.content import ContentScanner, Verdict

SHELL_FILES = sorted(p for p in WEBSHELLS.iterdir() if p.name != "README.md")
BENIGN_FILES = sorted(p for p in BENIGN.iterdir() if p.name != "README.md")

# The rule each file is there to exercise (others may match too).
EXPECTED: dict[str, str] = {
    "aliased_request_tunnel.ashx": "exw.ws.socket_tunnel",
    "antsword_csharp_loader.aspx": "exw.ws.assembly_load_request",
    "appcode_header_loader.cs": "exw.ws.assembly_load_decoded",
    "appdomain_setdata_loader.ashx": "exw.ws.assembly_load_decoded",
    "asmx_powershell_reflection.asmx": "exw.ws.powershell_runspace",
    "asp_admin_shell.asp": "exw.ws.asp_capabilities",
    "asp_base64_execute.asp": "exw.ws.base64_exec",
    "asp_chr_execute.asp": "exw.ws.decode_exec",
    "asp_computed_progid.asp": "exw.ws.asp_computed_object",
    "asp_concat_obfuscated.asp": "exw.ws.asp_wscript_shell",
    "asp_drop_server_execute.asp": "exw.ws.asp_write_then_execute",
    "asp_execute_indirect.asp": "exw.ws.request_var_execute",
    "asp_execute_oneliner.asp": "exw.ws.eval_request",
    "asp_executeglobal.asp": "exw.ws.eval_request",
    "asp_fso_mapped_writer.asp": "exw.ws.request_path_written",
    "asp_fso_writer.asp": "exw.ws.file_write_request",
    "asp_jscript_activex.asp": "exw.ws.asp_wscript_shell",
    "asp_jscript_indexed_eval.asp": "exw.ws.jscript_page_eval",
    "asp_script_encoded.asp": "exw.ws.script_encoded",
    "asp_stream_saver.asp": "exw.ws.file_write_request",
    "asp_stream_upload.asp": "exw.ws.asp_body_saved",
    "asp_strreverse.asp": "exw.ws.decode_exec",
    "asp_wscript_clsid.asp": "exw.ws.asp_wscript_shell",
    "asp_wscript_exec.asp": "exw.ws.asp_wscript_shell",
    "behinder_style_loader.aspx": "exw.ws.assembly_load_crypto",
    "bin_dll_dropper.aspx": "exw.ws.write_bin",
    "binaryformatter_body.ashx": "exw.ws.deserialize_request",
    "chopper_jscript_b64.aspx": "exw.ws.eval_unsafe",
    "chopper_jscript_form_debug.aspx": "exw.ws.eval_unsafe",
    "chopper_jscript_item.aspx": "exw.ws.eval_unsafe",
    "chopper_jscript_script_tag.aspx": "exw.ws.eval_unsafe",
    "chopper_vbs_eval.asp": "exw.ws.eval_request",
    "cmd_handler.ashx": "exw.ws.process_input",
    "cmd_initializer_oneliner.aspx": "exw.ws.process_input",
    "cmd_request_shell.aspx": "exw.ws.cmd_shell",
    "cmd_textbox_shell.aspx": "exw.ws.process_input",
    "cmd_vb_interaction_shell.aspx": "exw.ws.cmd_shell",
    "cmd_webservice.asmx": "exw.ws.service_method_process",
    "codedom_unvalidated_request.aspx": "exw.ws.compile_request",
    "codedom_webmethod.asmx": "exw.ws.compile_request",
    "com_progid_reflection.aspx": "exw.ws.com_reflection_exec",
    "config_jpg_as_page.config": "exw.ws.config_static_as_code",
    "config_module_from_programdata.config": "exw.ws.config_writable_assembly",
    "config_published_machine_key.config": "exw.ws.config_published_machine_key",
    "cs_byte_array_names.aspx": "exw.ws.process_type_by_name",
    "cs_concat_char_array_names.aspx": "exw.ws.process_type_by_name",
    "cs_saveas_by_name.aspx": "exw.ws.upload_tiny",
    "cs_stringbuilder_names.aspx": "exw.ws.process_type_by_name",
    "cs_using_alias_comspec.ashx": "exw.ws.cmd_shell",
    "cs_verbatim_identifiers.aspx": "exw.ws.cmd_shell",
    "csharp_jscript_engine.aspx": "exw.ws.jscript_engine",
    "csharp_unicode_escape.aspx": "exw.ws.assembly_load_request",
    "delegate_assembly_loader.aspx": "exw.ws.assembly_load_request",
    "deserialize_binaryformatter.ashx": "exw.ws.deserialize_request",
    "deserialize_losformatter.aspx": "exw.ws.deserialize_request",
    "embedded_pe_loader.aspx": "exw.ws.assembly_load_embedded",
    "ews_mailbox_zip_export.aspx": "exw.ws.mailbox_export_page",
    "exchange_param_gold.aspx": "exw.ws.exchange_shell_params",
    "execute_uploaded_assembly.aspx": "exw.ws.execute_assembly",
    "file_write_b64.aspx": "exw.ws.file_write_request",
    "godzilla_style_loader.aspx": "exw.ws.session_loader",
    "hafnium_style_script_page_load.aspx": "exw.ws.eval_unsafe",
    "hafnium_style_uploader.aspx": "exw.ws.upload_tiny",
    "hex_encoded_names.aspx": "exw.ws.encoded_sink_names",
    "inject_apc_w3wp.aspx": "exw.ws.shellcode_runner",
    "jscript_computed_activex.asp": "exw.ws.asp_computed_object",
    "jscript_eval_by_name.asp": "exw.ws.jscript_page_eval",
    "jscript_fromcharcode.aspx": "exw.ws.decode_exec",
    "jscript_request_var_eval.asp": "exw.ws.jscript_page_eval",
    "jsp_el_runtime_exec.jsp": "exw.ws.jsp_el_exec",
    "jsp_fileupload_own_name.jsp": "exw.ws.jsp_file_write",
    "jsp_realpath_writer.jsp": "exw.ws.jsp_file_write",
    "jsp_reflection_runtime.jsp": "exw.ws.jsp_reflective_exec",
    "jsp_reflective_defineclass.jsp": "exw.ws.jsp_exec",
    "jsp_runtime_exec.jsp": "exw.ws.jsp_exec",
    "jsp_script_engine_eval.jsp": "exw.ws.jsp_exec",
    "neoreg_style_tunnel.aspx": "exw.ws.socket_tunnel",
    "oab_config_export.aspx": "exw.ws.oab_config",
    "objectstate_cookie.aspx": "exw.ws.deserialize_request",
    "owa_expiredpassword_recorder.aspx": "exw.ws.credential_recorder",
    "owa_flogon_beacon.js": "exw.ws.credential_script_exfil",
    "owa_global_asax_credential_sender.asax": "exw.ws.credential_recorder",
    "owa_logon_xhr_harvester.aspx": "exw.ws.credential_script_exfil",
    "owa_module_credential_recorder.cs": "exw.ws.credential_recorder",
    "php_callback_variable.php": "exw.ws.php_callback_input",
    "php_decrypt_eval_input.php": "exw.ws.php_decoded_eval",
    "php_eval_post.php": "exw.ws.php_eval",
    "php_extract_call.php": "exw.ws.php_callback_input",
    "php_include_upload.php": "exw.ws.php_dynamic_code",
    "php_move_upload_client_name.php": "exw.ws.php_script_writer",
    "php_packed_create_function.php": "exw.ws.php_decoded_eval",
    "php_put_contents_dropper.php": "exw.ws.php_script_writer",
    "php_str_replace_pieces.php": "exw.ws.php_dynamic_code",
    "php_usort_request_callback.php": "exw.ws.php_callback_input",
    "php_variable_superglobal_call.php": "exw.ws.php_capabilities",
    "pinvoke_createprocess.aspx": "exw.ws.pinvoke_process",
    "powershell_runspace.aspx": "exw.ws.powershell_runspace",
    "razor_decoded_loader.cshtml": "exw.ws.assembly_load_decoded",
    "reflection_charcode_names.aspx": "exw.ws.reflection_computed",
    "reflection_process_start.ashx": "exw.ws.reflection_process_start",
    "reflection_reversed_names.aspx": "exw.ws.reflection_computed",
    "sharpyshell_style_xor_loader.aspx": "exw.ws.assembly_load_request",
    "shellcode_ntdll_calls.aspx": "exw.ws.shellcode_runner",
    "shellcode_virtualalloc_thread.aspx": "exw.ws.shellcode_runner",
    "sideload_reflect.aspx": "exw.ws.assembly_reflect_request",
    "spy_style_manager.aspx": "exw.ws.aspx_capabilities",
    "sql_query_shell.aspx": "exw.ws.sql_shell",
    "ssi_exec_cmd.stm": "exw.ws.ssi_exec",
    "streaming_socket_relay.ashx": "exw.ws.socket_relay",
    "tunnel_socket.aspx": "exw.ws.socket_tunnel",
    "upload_path_param.aspx": "exw.ws.upload_path_request",
    "upload_via_variable.aspx": "exw.ws.upload_tiny",
    "vb_callbyname_wscript.aspx.vb": "exw.ws.com_reflection_exec",
    "vbs_caesar_execute.asp": "exw.ws.vbs_execute_decoded",
    "vbs_chr_arithmetic_execute.asp": "exw.ws.vbs_execute_small",
    "vbs_winmgmts_create.asp": "exw.ws.wmi_process_create",
    "vbs_xor_executeglobal.asp": "exw.ws.vbs_execute_decoded",
    "webconfig_shell.config": "exw.ws.config_code",
    "wmi_process_create.aspx": "exw.ws.wmi_process_create",
    "xslt_client_stylesheet.aspx": "exw.ws.xslt_trusted_request",
    "xslt_exec.xslt": "exw.ws.xslt_script",
}

GENERATED: dict[str, tuple[bytes, str]] = {
    "pst_export": (pst_export_shell(), "exw.ws.proxyshell_pst"),
    "der_export": (der_export_shell(), "exw.ws.proxyshell_der"),
    "dropper_prefix": (dropper_prefix_shell(), "exw.ws.binary_prefix"),
    "gif_polyglot": (gif_polyglot_shell(), "exw.ws.image_polyglot"),
}


@pytest.fixture(scope="module")
def scanner() -> ContentScanner:
    return ContentScanner.load()


def test_corpus_sizes() -> None:
    assert len(SHELL_FILES) + len(GENERATED) >= 30
    assert len(BENIGN_FILES) >= 30
    assert {p.name for p in SHELL_FILES} == set(EXPECTED)


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: p.name)
def test_webshell_flagged(scanner: ContentScanner, path: Path) -> None:
    result = scanner.scan_file(path)
    assert result.verdict in (Verdict.MALICIOUS, Verdict.SUSPICIOUS), result
    assert EXPECTED[path.name] in result.rule_ids
    assert result.error is None


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_webshell_flagged(scanner: ContentScanner, name: str) -> None:
    data, rule_id = GENERATED[name]
    result = scanner.scan_bytes(data, path=f"{name}.aspx")
    assert result.verdict is Verdict.MALICIOUS
    assert rule_id in result.rule_ids


@pytest.mark.parametrize("path", BENIGN_FILES, ids=lambda p: p.name)
def test_benign_clean(scanner: ContentScanner, path: Path) -> None:
    result = scanner.scan_file(path)
    assert result.verdict is Verdict.CLEAN, result
    assert result.detections == ()


@pytest.mark.parametrize("variant", sorted(encodings(CHOPPER)))
def test_chopper_in_every_encoding(scanner: ContentScanner, variant: str) -> None:
    result = scanner.scan_bytes(encodings(CHOPPER)[variant], path="x.aspx")
    assert result.verdict is Verdict.MALICIOUS
    assert "exw.ws.eval_unsafe" in result.rule_ids


@pytest.mark.parametrize("name", ["asp_wscript_exec.asp", "cmd_request_shell.aspx",
                                  "behinder_style_loader.aspx", "spy_style_manager.aspx"])
@pytest.mark.parametrize("variant", ["utf16le-bom", "utf16be-bom", "utf16le"])
def test_shells_in_utf16(scanner: ContentScanner, name: str, variant: str) -> None:
    text = (WEBSHELLS / name).read_bytes()
    result = scanner.scan_bytes(encodings(text)[variant], path=name)
    assert result.verdict is Verdict.MALICIOUS
    assert EXPECTED[name] in result.rule_ids


@pytest.mark.parametrize("name", ["logon.aspx", "products_grid.aspx", "upload_validated.aspx"])
@pytest.mark.parametrize("variant", ["utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le"])
def test_benign_in_other_encodings(scanner: ContentScanner, name: str, variant: str) -> None:
    text = (BENIGN / name).read_bytes()
    assert scanner.scan_bytes(encodings(text)[variant], path=name).verdict is Verdict.CLEAN


def test_rates(scanner: ContentScanner) -> None:
    """The summary the report quotes: every sample flagged, no benign file flagged."""
    flagged = sum(scanner.scan_file(p).verdict is not Verdict.CLEAN for p in SHELL_FILES)
    flagged += sum(scanner.scan_bytes(data).verdict is not Verdict.CLEAN
                   for data, _ in GENERATED.values())
    false_pos = sum(scanner.scan_file(p).verdict is not Verdict.CLEAN for p in BENIGN_FILES)
    assert flagged == len(SHELL_FILES) + len(GENERATED)
    assert false_pos == 0
