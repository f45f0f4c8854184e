<#
.SYNOPSIS
  Install the exwatch agent on an Exchange server as a Windows service.

.DESCRIPTION
  Finds the Exchange install root in the registry, writes agent.toml with the web roots and
  log folders derived from it, enrolls with the collector, locks down the state folder
  (keys, spool, quarantine vault) to SYSTEM and Administrators, installs and starts the
  service. Safe to re-run: an existing enrollment is kept.

.EXAMPLE
  .\install.ps1 -Collector collector.msp.example:50052 -Token exw_... -CaFile .\ca.pem
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Collector,
    [Parameter(Mandatory = $true)][string]$Token,
    [Parameter(Mandatory = $true)][string]$CaFile,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'exwatch'),
    [string]$DataDir = (Join-Path $env:ProgramData 'exwatch'),
    [string]$ServiceName = 'exwatch-agent'
)
$ErrorActionPreference = 'Stop'

function Get-ExchangeRoot {
    $setup = 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15\Setup'
    if (-not (Test-Path $setup)) { throw "Exchange 2013/2016/2019 setup key not found ($setup)" }
    $root = (Get-ItemProperty -Path $setup -Name MsiInstallPath).MsiInstallPath
    if (-not $root) { throw 'MsiInstallPath is empty' }
    return $root.TrimEnd('\')
}

$exchangeRoot = Get-ExchangeRoot
$inetpub = (Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\InetStp' -ErrorAction SilentlyContinue).PathWWWRoot
if ($inetpub) { $inetpub = Split-Path ([Environment]::ExpandEnvironmentVariables($inetpub)) -Parent }
else { $inetpub = Join-Path $env:SystemDrive 'inetpub' }
$agentExe = Join-Path $InstallDir 'exwatch-agent.exe'
if (-not (Test-Path $agentExe)) { throw "exwatch-agent.exe not found in $InstallDir (unpack the build there first)" }

New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
# State folder: SYSTEM and Administrators only (keys, spool, quarantined files).
$acl = New-Object System.Security.AccessControl.DirectorySecurity
$acl.SetAccessRuleProtection($true, $false)
foreach ($who in 'NT AUTHORITY\SYSTEM', 'BUILTIN\Administrators') {
    $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
    $acl.AddAccessRule($rule)
}
Set-Acl -Path $DataDir -AclObject $acl

$config = Join-Path $DataDir 'agent.toml'
$toml = @"
# Written by install.ps1; see agent.sample.toml for every key.
data_dir = '$($DataDir -replace "'", "''")'

[host]
system_root = '$($env:SystemDrive)\'
exchange_root = '$($exchangeRoot -replace "'", "''")'
inetpub = '$($inetpub -replace "'", "''")'
"@
Set-Content -Path $config -Value $toml -Encoding UTF8

if (-not (Test-Path (Join-Path $DataDir 'identity\enrollment.json'))) {
    & $agentExe enroll --collector $Collector --token $Token --ca $CaFile --config $config
    if ($LASTEXITCODE -ne 0) { throw "enrollment failed (exit $LASTEXITCODE)" }
}

if (-not (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) {
    New-Service -Name $ServiceName -DisplayName 'exwatch agent' `
        -Description 'Watches Exchange web roots, logs and processes for compromise.' `
        -BinaryPathName "`"$agentExe`" service --config `"$config`"" -StartupType Automatic | Out-Null
    # Restart on failure: 5 s, 5 s, 30 s.
    & sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/30000 | Out-Null
}
Start-Service -Name $ServiceName
Write-Host "exwatch agent installed; Exchange root $exchangeRoot; state in $DataDir"
