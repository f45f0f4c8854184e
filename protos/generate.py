"""Regenerate the committed Python code for protos/exwatch.proto.

Run from anywhere: ``python protos/generate.py``. tests/test_protos_generated.py
regenerates into a temporary folder and fails when the committed files differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent


def generate(out_dir: Path) -> None:
    """Write exwatch_pb2.py(i) and exwatch_pb2_grpc.py(i) under out_dir/protos.

    Type stubs come from mypy-protobuf, whose plugins live beside this interpreter.
    """
    (out_dir / "protos").mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{REPO}",
            f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
            f"--python_out={out_dir}",
            f"--mypy_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"--mypy_grpc_out={out_dir}",
            str(REPO / "protos" / "exwatch.proto"),
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit status {code}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO)
