"""The committed generated code must match protos/exwatch.proto."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import REPO


def _load_generator():  # protos/generate.py is a script, not part of the package API
    spec = importlib.util.spec_from_file_location("generate", REPO / "protos" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    _load_generator().generate(tmp_path)
    for name in (
        "exwatch_pb2.py",
        "exwatch_pb2.pyi",
        "exwatch_pb2_grpc.py",
        "exwatch_pb2_grpc.pyi",
    ):
        fresh = (tmp_path / "protos" / name).read_text()
        committed = (REPO / "protos" / name).read_text()
        assert fresh == committed, f"protos/{name} is stale: run `make protos`"


def test_package_is_versioned() -> None:
    from protos import exwatch_pb2

    assert exwatch_pb2.DESCRIPTOR.package == "exwatch.v1"
