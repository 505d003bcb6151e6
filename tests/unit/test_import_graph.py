"""The import graph, read from the source with ``ast`` (every import, including those inside
functions): the services are peers that share code only through ``tollgate/`` and talk only
through ``proto/`` and NATS, so no ``services.X`` imports ``services.Y`` and ``tollgate``
imports no service. ``tools/`` (the launcher, the simulator, benchmarks) may import anything."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = name or _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def modules(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)


def violations() -> list[str]:
    found = []
    for path in modules("services"):
        own = _module_name(path).split(".")[1] if _module_name(path).count(".") else ""
        for target in imports_of(path):
            parts = target.split(".")
            if parts[0] == "services" and len(parts) > 1 and own and parts[1] != own:
                found.append(f"{path.relative_to(ROOT)} imports {target} (services are peers: share through tollgate/)")
    for path in modules("tollgate"):
        for target in imports_of(path):
            if target.split(".")[0] == "services":
                found.append(f"{path.relative_to(ROOT)} imports {target} (the shared core imports no service)")
    return found


def test_imports_inside_functions_and_relative_imports_are_read(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "import os\n\n\ndef f():\n    from services.router import catalog\n    import services.accounts.keys\n\n\n"
        "class C:\n    def m(self):\n        from ..router.table import Table\n"
    )
    found = imports_of(source, "services.edge.mod")
    assert {"os", "services.router", "services.router.catalog", "services.accounts.keys", "services.router.table"} <= found


def test_every_service_has_modules():
    services = {_module_name(p).split(".")[1] for p in modules("services") if _module_name(p).count(".")}
    assert {"edge", "accounts", "router", "metering"} <= services


def test_no_service_imports_another_and_the_core_imports_no_service():
    found = violations()
    assert not found, "\n".join(found)
