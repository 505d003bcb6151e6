"""Helpers for the identity e2e tests: the outbox's mails and a cookie-session HTTP client."""

from __future__ import annotations

import email
import re
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import httpx

from tollgate import identity


def mails(outbox: Path) -> list[EmailMessage]:
    if not outbox.is_dir():
        return []
    found = []
    for path in sorted(outbox.glob("*.eml")):
        found.append(email.message_from_bytes(path.read_bytes(), policy=default))
    return found  # type: ignore[return-value]


def link(outbox: Path, to: str, page: str, timeout: float = 10.0, after: int = 0) -> str:
    """The newest ``/console/<page>?token=…`` link mailed to ``to`` (waiting for it), as a URL."""
    deadline = time.monotonic() + timeout
    while True:
        for msg in reversed(mails(outbox)[after:]):
            body = msg.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            match = re.search(rf"(http\S+/console/{page}\?token=\S+)", text)
            if msg["To"] == to and match:
                return match[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {page} mail to {to} in {outbox}")
        time.sleep(0.1)


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


def cookies_of(response: httpx.Response) -> dict[str, str]:
    """name -> the raw Set-Cookie header, for the session and CSRF cookies."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        out[name] = header
    return out


class Session:
    """A signed-in browser as a test sees it: sends the session cookie (Secure cookies are not
    sent over http by httpx's jar, browsers do on 127.0.0.1) and the CSRF header."""

    def __init__(self, base: str, response: httpx.Response):
        cookies = cookies_of(response)
        self.token = cookies[identity.SESSION_COOKIE].split("=", 1)[1].split(";", 1)[0]
        self.csrf = cookies[identity.CSRF_COOKIE].split("=", 1)[1].split(";", 1)[0]
        self.base = base

    def headers(self, csrf: bool = True) -> dict[str, str]:
        h = {"cookie": f"{identity.SESSION_COOKIE}={self.token}; {identity.CSRF_COOKIE}={self.csrf}"}
        if csrf:
            h[identity.CSRF_HEADER] = self.csrf
        return h

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers(False), timeout=30, **kw)

    def post(self, path: str, json: dict | None = None, csrf: bool = True) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=self.headers(csrf), json=json if json is not None else {}, timeout=30)


def identity_walk(stack, password: str, tag: str) -> tuple[dict[str, str], dict[str, str]]:
    """Register, verify, log in, invite and accept, sign out, with ``password`` for both users:
    returns (secrets that must be nowhere, mailed tokens that may only be in the outbox)."""
    api, base, outbox = "/console/api/identity", stack.metering_url, stack.settings.outbox_path
    owner, mate = f"canary-owner-{tag}@example.com", f"canary-mate-{tag}@example.com"
    r = httpx.post(f"{base}{api}/register", json={"email": owner, "password": password}, timeout=30)
    assert r.status_code == 201, r.text
    verify = token_of(link(outbox, owner, "verify"))
    assert httpx.post(f"{base}{api}/verify", json={"token": verify}, timeout=30).status_code == 200
    bad = httpx.post(f"{base}{api}/login", json={"email": owner, "password": password + "-wrong"}, timeout=30)
    assert bad.status_code == 401
    session = Session(base, httpx.post(f"{base}{api}/login", json={"email": owner, "password": password}, timeout=30))
    assert session.post(f"{api}/members/invite", {"email": mate, "role": "developer"}).status_code == 201
    invite = token_of(link(outbox, mate, "invite"))
    accepted = httpx.post(f"{base}{api}/invitation/accept", json={"token": invite, "password": password, "name": "Mate"}, timeout=30)
    mate_session = Session(base, accepted)
    assert mate_session.get("/v1/whoami").status_code == 200
    assert session.post(f"{api}/logout").status_code == 200
    secrets_ = {"password": password, "session token": session.token, "CSRF token": session.csrf, "invitee session": mate_session.token}
    return secrets_, {"verification token": verify, "invitation token": invite}
