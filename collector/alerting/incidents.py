"""Host incidents: everything that says "this server is compromised" becomes one alert.

An SSRF request, a virtual-directory change, a page written and w3wp starting cmd.exe on
one host are one incident, in whatever order the evidence arrives (IIS writes its log up
to a minute late). The incident stays open, taking new evidence, until an analyst resolves
it; evidence after that opens a new one, marked as a repeat compromise.
"""

from __future__ import annotations

from collections.abc import Iterable

# Which exploit chain a CVE belongs to. CVE-2022-41082 (the PowerShell deserialization) is
# the second half of both ProxyNotShell and OWASSRF: the first half decides the name.
CVE_CHAINS = {
    "cve.2021-26855": "ProxyLogon",
    "cve.2021-26857": "ProxyLogon",
    "cve.2021-26858": "ProxyLogon",
    "cve.2021-27065": "ProxyLogon",
    "cve.2021-34473": "ProxyShell",
    "cve.2021-34523": "ProxyShell",
    "cve.2021-31207": "ProxyShell",
    "cve.2022-41040": "ProxyNotShell",
    "cve.2022-41080": "OWASSRF",
}
SHARED_RCE = "cve.2022-41082"
MAX_LISTED = 20  # paths and rules kept in an incident's details; the count says the rest


def chains_of(tags: Iterable[str]) -> set[str]:
    tags = set(tags)
    chains = {CVE_CHAINS[t] for t in tags if t in CVE_CHAINS}
    if SHARED_RCE in tags and not chains & {"ProxyNotShell", "OWASSRF"}:
        chains.add("ProxyNotShell or OWASSRF")
    return chains


def incident_title(hostname: str, chains: Iterable[str], paths: list[str], again: bool) -> str:
    named = sorted(chains)
    if named:
        title = f"{' and '.join(named)} exploitation on {hostname}"
    elif paths:
        more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
        title = f"Webshell on {hostname}: {paths[0]}{more}"
    else:
        title = f"Signs of compromise on {hostname}"
    return f"Compromised again: {title}" if again else title


def merge_listed(existing: list[str], new: Iterable[str]) -> list[str]:
    out = list(existing)
    for item in new:
        if item and item not in out and len(out) < MAX_LISTED:
            out.append(item)
    return out
