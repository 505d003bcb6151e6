"""Console sessions in metering: the cookie, CSRF on unsafe methods, the web limit, and the
session principal (Viewer) with a resolver that answers from a fake Identity stub."""

from __future__ import annotations

import grpc
import pytest
from litestar import Litestar, Request, get, post
from litestar.testing import TestClient

from services.metering.auth import Authorizer
from services.metering.sessions import SessionResolver, WebLimiter
from tollgate import identity
from tollgate.errors import RateLimited, TollgateError
from tollgate.rpc import identity_pb2 as pb

TOKEN = identity.new_token(identity.SESSION_PREFIX)


class FakeIdentity:
    def __init__(self) -> None:
        self.calls = 0

    async def ResolveSession(self, request: pb.ResolveSessionRequest, timeout: float = 0) -> pb.SessionInfo:
        self.calls += 1
        if request.session_token != TOKEN:
            raise _Unauthenticated()
        return pb.SessionInfo(user_id="usr_1", org_id="org_1", account_id="acct_1", role="developer", member_id="mem_1", email="a@x.io")


class _Unauthenticated(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(("tollgate-error-code", "session_expired")),
            details="Your session has ended; sign in again.",
        )


def _app(resolver: SessionResolver) -> Litestar:
    auth = Authorizer("tga_admin", None, sessions=resolver)  # type: ignore[arg-type]

    async def who(request: Request) -> dict:
        try:
            v = await auth.viewer(request)
        except TollgateError as err:
            return {"error": err.code, "status": err.status, "retry": err.headers.get("retry-after")}
        return {"account_id": v.account_id, "role": v.role, "member_id": v.member_id, "admin": v.admin}

    @get("/who")
    async def read(request: Request) -> dict:
        return await who(request)

    @post("/who", status_code=200)
    async def write(request: Request) -> dict:
        return await who(request)

    return Litestar([read, write])


def _cookies(token: str = TOKEN) -> dict[str, str]:
    return {"cookie": f"{identity.SESSION_COOKIE}={token}; {identity.CSRF_COOKIE}={identity.csrf_token(token)}"}


def test_session_principal_and_csrf() -> None:
    fake = FakeIdentity()
    with TestClient(_app(SessionResolver(fake))) as client:  # type: ignore[arg-type]
        assert client.get("/who", headers=_cookies()).json() == {
            "account_id": "acct_1",
            "role": "developer",
            "member_id": "mem_1",
            "admin": False,
        }
        assert client.get("/who", headers=_cookies()).json()["role"] == "developer"
        assert fake.calls == 1  # cached briefly, by the token's hash
        assert client.post("/who", headers=_cookies()).json()["error"] == "csrf_failed"
        wrong = client.post("/who", headers=_cookies() | {identity.CSRF_HEADER: identity.csrf_token(identity.new_token("tgs_"))})
        assert wrong.json()["error"] == "csrf_failed"
        assert client.post("/who", headers=_cookies() | {identity.CSRF_HEADER: identity.csrf_token(TOKEN)}).json()["role"] == "developer"
        other = identity.new_token(identity.SESSION_PREFIX)
        assert client.get("/who", headers=_cookies(other)).json()["error"] == "session_expired"
        assert client.get("/who").json()["error"] == "missing_api_key"
        admin = client.post("/who", headers=_cookies() | {"authorization": "Bearer tga_admin"}).json()
        assert admin["admin"] is True  # a bearer credential needs no CSRF token


def test_web_limit_per_session() -> None:
    fake = FakeIdentity()
    with TestClient(_app(SessionResolver(fake, web_rpm=5))) as client:  # type: ignore[arg-type]
        answers = [client.get("/who", headers=_cookies()).json() for _ in range(6)]
        assert [a.get("role") for a in answers[:5]] == ["developer"] * 5
        assert answers[5]["error"] == "web_rate_limited" and answers[5]["status"] == 429 and 1 <= int(answers[5]["retry"]) <= 60


def test_web_limiter_window() -> None:
    limiter = WebLimiter(limit=120, window_s=60)
    for i in range(120):
        limiter.hit("u", now=1000 + i * 0.1)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("u", now=1013)
    assert refused.value.headers["retry-after"] == "47"
    limiter.hit("other", now=1013)  # per user
    limiter.hit("u", now=1060.05)  # the first request has left the window


def test_viewer_role_checks() -> None:
    from services.metering.auth import Viewer

    assert Viewer(admin=True).may("members.invite") and Viewer(False, "acct_1").may("keys.manage")  # admin; an API key
    viewer = Viewer(False, "acct_1", "usr_1", "org_1", "viewer", "mem_1")
    assert viewer.may("usage.view") and not viewer.may("keys.manage")
    with pytest.raises(TollgateError) as refused:
        viewer.require("billing.manage")
    assert refused.value.code == "role_forbidden" and refused.value.status == 403
    Viewer(False, "acct_1", "usr_1", "org_1", "billing", "mem_1").require("billing.manage")
