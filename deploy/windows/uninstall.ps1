<#
.SYNOPSIS
  Remove the exwatch agent service. The state folder (identity, spool, quarantine vault)
  is kept unless -RemoveData is given: quarantined files may be evidence.
#>
[CmdletBinding()]
param(
    [string]$DataDir = (Join-Path $env:ProgramData 'exwatch'),
    [string]$ServiceName = 'exwatch-agent',
    [switch]$RemoveData
)
$ErrorActionPreference = 'Stop'
$service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($service) {
    if ($service.Status -ne 'Stopped') { Stop-Service -Name $ServiceName -Force }
    & sc.exe delete $ServiceName | Out-Null
}
if ($RemoveData -and (Test-Path $DataDir)) { Remove-Item -Recurse -Force $DataDir }
Write-Host "exwatch agent removed$(if (-not $RemoveData) { "; state kept in $DataDir" })"
