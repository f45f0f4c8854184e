/*
 * exwatch built-in rules: web.config implants. A config file runs no code itself, but it
 * decides what IIS loads and compiles: an intruder points a module at a DLL of their own,
 * makes static files compile as pages, or installs the machine key everyone knows.
 * Written by the exwatch project from public descriptions of the techniques.
 */

rule EXW_Config_Assembly_From_Writable_Folder
{
    meta:
        id = "exw.ws.config_writable_assembly"
        title = "Config loads an assembly from a folder any process can write (ProgramData, Temp, Users)"
        severity = "high"
        tags = "attack.persistence, attack.t1505.004, attack.defense_evasion"
    strings:
        $codebase = /codeBase[^>]{0,100}href\s*=\s*["']file:\/{2,3}[A-Za-z]:[\\\/](ProgramData|Windows[\\\/]Temp|Temp|Users|PerfLogs|\$Recycle)/ nocase
        $cfg = /<configuration[\s>]/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 1MB and $cfg and $codebase
}

rule EXW_Config_Static_Files_As_Code
{
    meta:
        id = "exw.ws.config_static_as_code"
        title = "Config makes IIS compile and run files of another extension as ASP.NET pages or handlers"
        severity = "high"
        tags = "attack.persistence, attack.t1505.003, attack.defense_evasion"
    strings:
        // An extension other than .aspx handed to the page handler or page compiler
        // (.ashx to the handler factory), in either attribute order.
        $page_path = /path\s*=\s*["']\*\.([b-z0-9][a-z0-9]{0,5}|a[a-rt-z0-9][a-z0-9]{0,4}|as[a-oq-z0-9][a-z0-9]{0,3}|asp[a-wyz0-9][a-z0-9]{0,2}|asp|aspx[a-z0-9]{1,2})["'][^>]{0,300}System\.Web\.UI\.PageHandlerFactory/ nocase
        $page_type = /System\.Web\.UI\.PageHandlerFactory["'][^>]{0,300}path\s*=\s*["']\*\.([b-z0-9][a-z0-9]{0,5}|a[a-rt-z0-9][a-z0-9]{0,4}|as[a-oq-z0-9][a-z0-9]{0,3}|asp[a-wyz0-9][a-z0-9]{0,2}|asp|aspx[a-z0-9]{1,2})["']/ nocase
        $build = /extension\s*=\s*["']\.([b-z0-9][a-z0-9]{0,5}|a[a-rt-z0-9][a-z0-9]{0,4}|as[a-oq-z0-9][a-z0-9]{0,3}|asp[a-wyz0-9][a-z0-9]{0,2}|asp|aspx[a-z0-9]{1,2})["'][^>]{0,200}System\.Web\.Compilation\.PageBuildProvider/ nocase
        $cfg = /<configuration[\s>]/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 1MB and $cfg and ($page_path or $page_type or $build)
}

rule EXW_Config_Published_Machine_Key
{
    meta:
        id = "exw.ws.config_published_machine_key"
        title = "Config sets the machine key Exchange shipped to every install before February 2020 (CVE-2020-0688)"
        severity = "critical"
        tags = "attack.persistence, attack.t1190, cve.2020-0688"
    strings:
        // The static ECP validation key, public since the advisory: whoever sets it back
        // can forge view state that ECP deserializes as SYSTEM.
        $key = "CB2721ABDAF8E9DC516D621D8B8BF13A2C9E8689A25303BF" nocase
        $cfg = /<(configuration|machineKey)[\s>]/ nocase
    condition:
        uint16(0) != 0x5a4d and filesize < 1MB and $cfg and $key
}
