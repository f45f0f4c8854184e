"""Rule bundles pushed by the collector: written under the agent's data folder, checked
with the agent's own engines before they replace the rules in force."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from agent.errors import AgentError
from protos import exwatch_pb2 as pb


class BundleError(AgentError):
    """A bundle that cannot be used; the rules in force stay."""


def write_bundle(folder: Path, bundle: pb.RuleBundle) -> None:
    """Write the bundle's files under ``folder`` (replacing an incomplete earlier try).
    Every path must stay inside: ``sigma/...`` or ``yara/...``, relative, no ``..``."""
    if not bundle.version.isalnum() or len(bundle.version) > 64:
        raise BundleError(f"malformed bundle version {bundle.version[:70]!r}")
    if folder.exists():
        shutil.rmtree(folder)
    for rule_file in bundle.files:
        rel = PurePosixPath(rule_file.path)
        if (
            rel.is_absolute()
            or ".." in rel.parts
            or len(rel.parts) < 2
            or rel.parts[0] not in ("sigma", "yara")
            or "\\" in rule_file.path
        ):
            raise BundleError(f"bundle {bundle.version}: refusing file path {rule_file.path!r}")
        target = folder.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rule_file.content)


def bundle_folders(folder: Path) -> tuple[list[Path], list[Path]]:
    """(Sigma folders, YARA folders) of a written bundle."""
    sigma, yara = folder / "sigma", folder / "yara"
    return ([sigma] if sigma.is_dir() else []), ([yara] if yara.is_dir() else [])
