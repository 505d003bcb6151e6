"""A vertex channel without a secret reference takes its tokens from the GCE metadata server
(google-auth's compute-engine credentials; ``GCE_METADATA_HOST`` moves it, read when
google-auth is imported, hence a process of its own), which must be asked with
``Metadata-Flavor: Google``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

MINT = "from tollgate.providers.vertex.auth import minter; token, lifetime = minter('')(); print(token, int(lifetime))"


class Metadata(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]  # set by the fixture
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_response(403)
            self.end_headers()
            return
        path = self.path.split("?")[0]
        if path.endswith("/service-accounts/default/token"):
            body = json.dumps({"access_token": "ya29.metadata", "expires_in": 1800, "token_type": "Bearer"}).encode()
            kind = "application/json"
        elif path.endswith("/service-accounts/default/"):
            body = json.dumps({"email": "vm@p.iam.gserviceaccount.com", "aliases": ["default"], "scopes": []}).encode()
            kind = "application/json"
        else:
            body, kind = b"googleapis.com", "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metadata() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    server.seen = []  # type: ignore[attr-defined]  # the paths asked
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    server.shutdown()


def test_tokens_from_the_metadata_server(metadata: tuple[str, list[str]]) -> None:
    host, seen = metadata
    env = {**os.environ, "GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "NO_PROXY": "127.0.0.1"}
    done = subprocess.run([sys.executable, "-c", MINT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    token, lifetime = done.stdout.split()
    assert token == "ya29.metadata" and 1700 < int(lifetime) <= 1800
    assert any("/service-accounts/default/token" in p and "cloud-platform" in p for p in seen)
