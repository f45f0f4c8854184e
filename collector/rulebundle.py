"""Rule bundles: the Sigma and YARA files an MSP pushes to its agents, versioned by content.

The collector only packs and ships them; each agent validates a bundle with its own
engines before applying it, and keeps its old rules when the bundle is bad.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from collector.errors import CollectorError
from protos import exwatch_pb2 as pb

KINDS = {".yml": "sigma", ".yaml": "sigma", ".yar": "yara", ".yara": "yara"}
MAX_BUNDLE_BYTES = 8 * 1024 * 1024


def build_bundle(folders: list[Path]) -> pb.RuleBundle:
    """Every Sigma (.yml/.yaml) and YARA (.yar/.yara) file under ``folders``."""
    files: dict[str, bytes] = {}
    for folder in folders:
        if not folder.is_dir():
            raise CollectorError(f"{folder} is not a folder")
        for path in sorted(folder.rglob("*")):
            kind = KINDS.get(path.suffix.lower())
            if kind is None or not path.is_file() or path.is_symlink():
                continue
            rel = f"{kind}/{folder.name}/{path.relative_to(folder).as_posix()}"
            files[rel] = path.read_bytes()
    if not files:
        raise CollectorError("no .yml, .yaml, .yar or .yara files found")
    if sum(len(c) for c in files.values()) > MAX_BUNDLE_BYTES:
        raise CollectorError(f"bundle larger than {MAX_BUNDLE_BYTES} bytes")
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    bundle = pb.RuleBundle(version=digest.hexdigest()[:16])
    bundle.files.extend(pb.RuleFile(path=rel, content=files[rel]) for rel in sorted(files))
    return bundle
