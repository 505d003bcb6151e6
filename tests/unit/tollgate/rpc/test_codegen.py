"""The committed gRPC code in tollgate/rpc must be exactly what proto/ generates."""

from __future__ import annotations

from pathlib import Path

from tollgate.rpc import codegen

COMMITTED = Path(codegen.__file__).resolve().parent
HINT = "generated gRPC code is out of date with proto/: run `make proto` and commit the result"


def test_generated_code_matches_committed(tmp_path: Path) -> None:
    generated = codegen.generate(tmp_path)
    out_dir = tmp_path / "tollgate" / "rpc"

    assert generated, "codegen produced no files"
    assert all(p.parent == out_dir for p in generated)

    generated_names = {p.name for p in out_dir.iterdir() if p.is_file()}
    committed_names = {p.name for p in COMMITTED.glob("*_pb2*.py*")}
    # Every proto yields _pb2.py, _pb2.pyi and _pb2_grpc.py.
    assert len(generated_names) == 3 * len(codegen.proto_files())
    assert generated_names == committed_names, (
        f"{HINT}\n  only generated: {sorted(generated_names - committed_names)}\n  only committed: "
        f"{sorted(committed_names - generated_names)}"
    )

    stale = sorted(name for name in generated_names if (out_dir / name).read_bytes() != (COMMITTED / name).read_bytes())
    assert not stale, f"{HINT}; differing files: {', '.join(stale)}"
