"""The console's identity endpoints and pages: register, verify, sign in and out, password
reset, invitations, Members & roles and teams, as JSON under ``/console/api/identity`` in
front of the Identity gRPC service (``proto/tollgate/rpc/identity.proto``).

The visitor's own steps (register, verify, log in, reset, accept an invitation, single
sign-on) are called with the admin credential metering holds, passing the visitor's input;
a signed-in user's steps (members, teams, settings) forward the session token from the
cookie as the gRPC credential, so the Identity service checks the member's role itself.
Signing in sets the session cookie (HttpOnly, Secure, SameSite=Lax) and the CSRF cookie
(``services/metering/sessions.py``); unsafe methods of a session need the CSRF header.
Errors are ``{"error": {"message", "type", "code"}}`` with the service's status.

The platform admin (the admin token as a bearer credential) lists organisations and users:
``GET /console/api/identity/admin/orgs?limit=&after=``, ``…/admin/users?limit=&after=&org_id=``
and ``…/admin/accounts/{account_id}/org`` (the organisation owning an account).

Pages (standalone, same look as the dashboard): /console/register, /console/login,
/console/verify, /console/reset, /console/invite (``identity.html`` + ``identity.js``) and
/console/members (``members.html`` + ``members.js``).

Wiring: ``IdentityConsole(settings, sessions)``; ``*console.handlers()`` among the app's
route handlers and ``console.close`` among its shutdown hooks.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

import grpc
import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import File

from services.metering.accounts_api import decode_body, error_response
from services.metering.auth import bearer
from services.metering.console import oidc
from services.metering.dashboard import MEDIA_TYPES, PAGE_HEADERS, STATIC
from services.metering.sessions import SessionResolver, check_csrf, grpc_error, session_cookie
from tollgate import credentials, identity
from tollgate.errors import BadRequest, Forbidden, TollgateError, Unauthorized
from tollgate.protojson import to_data
from tollgate.rpc import identity_pb2 as pb
from tollgate.rpc import identity_pb2_grpc as pb_grpc
from tollgate.settings import Settings

API = "/console/api/identity"
IDENTITY_PAGES = ("register", "login", "verify", "reset", "invite")


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    password: str
    name: str = ""
    org_name: str = ""


class EmailBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str


class TokenBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: str


class LoginBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    password: str
    org_id: str = ""


class ResetBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: str
    password: str


class AcceptBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: str
    password: str = ""
    name: str = ""


class InviteBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    role: str = "developer"


class RoleBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: str


class NameBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str


class TeamMemberBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    member_id: str
    member: bool = True


class SwitchBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    org_id: str


class OidcBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    issuer: str = ""
    client_id: str = ""
    email_domain: str = ""
    default_role: str = "developer"


def _client_addr(request: Request) -> str:
    return request.client.host if request.client else ""


def _id(value: str, what: str) -> str:
    if not value or len(value) > 200:
        raise BadRequest(f"{what} is required", code=f"missing_{what}")
    return value


class IdentityConsole:
    """Owns one gRPC channel to the Identity service (opened on first use inside the server's loop)."""

    def __init__(self, settings: Settings, sessions: SessionResolver | None = None, timeout_s: float = 15.0):
        self._addr = settings.accounts_addr
        self._admin = settings.admin_credential
        self._secure = settings.session_cookie_secure
        self._ttl_s = int(settings.session_ttl_s)
        self._console_url = settings.console_url
        self._sessions = sessions
        self._timeout = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._oidc = oidc.OidcClient()

    def _stub(self) -> pb_grpc.IdentityStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._addr)
        return pb_grpc.IdentityStub(self._channel)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
        await self._oidc.close()

    async def rpc(self, method: str, message: Any, credential: str = "") -> Any:
        """Call ``method`` with ``credential`` (default: the admin credential, for the visitor's own steps)."""
        try:
            return await getattr(self._stub(), method)(
                message, metadata=credentials.bearer(credential or self._admin), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as err:
            raise grpc_error(err) from None

    # -- cookies ---------------------------------------------------------------------------
    def _cookies(self, grant: pb.SessionGrant) -> list[Cookie]:
        return [
            Cookie(
                key=identity.SESSION_COOKIE,
                value=grant.session_token,
                max_age=self._ttl_s,
                path="/",
                secure=self._secure,
                httponly=True,
                samesite="lax",
            ),
            Cookie(
                key=identity.CSRF_COOKIE,
                value=grant.csrf_token,
                max_age=self._ttl_s,
                path="/",
                secure=self._secure,
                httponly=False,
                samesite="strict",
            ),
        ]

    def _cleared(self) -> list[Cookie]:
        return [
            Cookie(key=identity.SESSION_COOKIE, value="", max_age=0, path="/", secure=self._secure, httponly=True, samesite="lax"),
            Cookie(key=identity.CSRF_COOKIE, value="", max_age=0, path="/", secure=self._secure, httponly=False, samesite="strict"),
        ]

    def signed_in(self, grant: pb.SessionGrant, status_code: int = 200) -> Response:
        body = {"session": to_data(grant.session), "csrf_token": grant.csrf_token}
        return Response(body, status_code=status_code, cookies=self._cookies(grant))

    def session_token(self, request: Request) -> str:
        """The cookie's session token, CSRF-checked on unsafe methods; 401 without one."""
        token = session_cookie(request)
        if not token:
            raise Unauthorized("Sign in first.", code="not_signed_in")
        check_csrf(request, token)
        if self._sessions is not None:
            self._sessions.hit(token)
        return token

    # -- handlers ------------------------------------------------------------------------------
    def handlers(self) -> list[HTTPRouteHandler]:
        console = self

        def guarded(fn):
            """Run ``fn``; TollgateErrors become the error JSON (with retry-after when throttled)."""

            async def run(*args) -> Response:
                try:
                    return await fn(*args)
                except TollgateError as err:
                    return error_response(err)

            return run

        async def scoped(request: Request, method: str, message: Any, status_code: int = 200) -> Response:
            reply = await console.rpc(method, message, console.session_token(request))
            return Response(to_data(reply), status_code=status_code)

        @post(f"{API}/register", status_code=200)
        async def register(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, RegisterBody)
                message = pb.RegisterRequest(
                    email=body.email, password=body.password, name=body.name, org_name=body.org_name, client_addr=_client_addr(request)
                )
                reply = await console.rpc("Register", message)
                data = to_data(reply) | {"verification_sent": True}
                return Response(data, status_code=201)

            return await guarded(run)()

        @post(f"{API}/verify/resend", status_code=200)
        async def resend(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, EmailBody)
                await console.rpc("ResendVerification", pb.ResendVerificationRequest(email=body.email, client_addr=_client_addr(request)))
                return Response({"ok": True})

            return await guarded(run)()

        @post(f"{API}/verify", status_code=200)
        async def verify(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, TokenBody)
                return Response(to_data(await console.rpc("VerifyEmail", pb.VerifyEmailRequest(token=body.token))))

            return await guarded(run)()

        @post(f"{API}/login", status_code=200)
        async def login(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, LoginBody)
                message = pb.LoginRequest(email=body.email, password=body.password, org_id=body.org_id, client_addr=_client_addr(request))
                return console.signed_in(await console.rpc("Login", message))

            return await guarded(run)()

        @post(f"{API}/logout", status_code=200)
        async def logout(request: Request) -> Response:
            async def run() -> Response:
                token = session_cookie(request)
                if token:
                    check_csrf(request, token)
                    await console.rpc("Logout", pb.LogoutRequest(session_token=token))
                    if console._sessions is not None:
                        console._sessions.forget(token)
                return Response({"ok": True}, cookies=console._cleared())

            return await guarded(run)()

        @get(f"{API}/session")
        async def session(request: Request) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                info = await console.rpc("ResolveSession", pb.ResolveSessionRequest(session_token=token))
                return Response({"session": to_data(info), "csrf_token": identity.csrf_token(token)})

            return await guarded(run)()

        @post(f"{API}/password-reset", status_code=200)
        async def reset_request(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, EmailBody)
                await console.rpc(
                    "RequestPasswordReset", pb.RequestPasswordResetRequest(email=body.email, client_addr=_client_addr(request))
                )
                return Response({"ok": True})

            return await guarded(run)()

        @post(f"{API}/password-reset/confirm", status_code=200)
        async def reset_confirm(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, ResetBody)
                await console.rpc("ResetPassword", pb.ResetPasswordRequest(token=body.token, password=body.password))
                return Response({"ok": True})

            return await guarded(run)()

        @get(f"{API}/invitation")
        async def invitation(token: FromQuery[str] = "") -> Response:
            async def run() -> Response:
                return Response(to_data(await console.rpc("GetInvitation", pb.GetInvitationRequest(token=token[:200]))))

            return await guarded(run)()

        @post(f"{API}/invitation/accept", status_code=200)
        async def accept(request: Request) -> Response:
            async def run() -> Response:
                body = await decode_body(request, AcceptBody)
                token = session_cookie(request)
                if token:
                    check_csrf(request, token)
                message = pb.AcceptInvitationRequest(
                    token=body.token, password=body.password, name=body.name, session_token=token, client_addr=_client_addr(request)
                )
                return console.signed_in(await console.rpc("AcceptInvitation", message))

            return await guarded(run)()

        @post(f"{API}/user/delete", status_code=200)
        async def delete_user(request: Request) -> Response:
            async def run() -> Response:
                await console.rpc("DeleteUser", pb.DeleteUserRequest(), console.session_token(request))
                return Response({"ok": True}, cookies=console._cleared())

            return await guarded(run)()

        # -- a signed-in member's organisation ------------------------------------------------
        @get(f"{API}/org")
        async def org(request: Request) -> Response:
            return await guarded(scoped)(request, "GetOrg", pb.OrgRequest())

        @post(f"{API}/org/oidc", status_code=200)
        async def configure_oidc(request: Request) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                body = await decode_body(request, OidcBody)
                message = pb.ConfigureOidcRequest(
                    issuer=body.issuer, client_id=body.client_id, email_domain=body.email_domain, default_role=body.default_role
                )
                return Response(to_data(await console.rpc("ConfigureOidc", message, token)))

            return await guarded(run)()

        @get(f"{API}/members")
        async def members(request: Request) -> Response:
            return await guarded(scoped)(request, "ListMembers", pb.OrgRequest())

        @post(f"{API}/members/invite", status_code=200)
        async def invite(request: Request) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                body = await decode_body(request, InviteBody)
                reply = await console.rpc("InviteMember", pb.InviteMemberRequest(email=body.email, role=body.role), token)
                return Response(to_data(reply), status_code=201)

            return await guarded(run)()

        @post(f"{API}/members/{{member_id:str}}/role", status_code=200)
        async def set_role(request: Request, member_id: FromPath[str]) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                body = await decode_body(request, RoleBody)
                message = pb.SetMemberRoleRequest(member_id=_id(member_id, "member_id"), role=body.role)
                return Response(to_data(await console.rpc("SetMemberRole", message, token)))

            return await guarded(run)()

        @post(f"{API}/members/{{member_id:str}}/remove", status_code=200)
        async def remove(request: Request, member_id: FromPath[str]) -> Response:
            return await guarded(scoped)(request, "RemoveMember", pb.RemoveMemberRequest(member_id=member_id[:200]))

        @get(f"{API}/invitations")
        async def invitations(request: Request) -> Response:
            return await guarded(scoped)(request, "ListInvitations", pb.OrgRequest())

        @post(f"{API}/invitations/{{invitation_id:str}}/revoke", status_code=200)
        async def revoke_invitation(request: Request, invitation_id: FromPath[str]) -> Response:
            return await guarded(scoped)(request, "RevokeInvitation", pb.RevokeInvitationRequest(invitation_id=invitation_id[:200]))

        @get(f"{API}/teams")
        async def teams(request: Request) -> Response:
            return await guarded(scoped)(request, "ListTeams", pb.OrgRequest())

        @post(f"{API}/teams", status_code=200)
        async def create_team(request: Request) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                body = await decode_body(request, NameBody)
                return Response(to_data(await console.rpc("CreateTeam", pb.CreateTeamRequest(name=body.name), token)), status_code=201)

            return await guarded(run)()

        @post(f"{API}/teams/{{team_id:str}}/delete", status_code=200)
        async def delete_team(request: Request, team_id: FromPath[str]) -> Response:
            return await guarded(scoped)(request, "DeleteTeam", pb.DeleteTeamRequest(team_id=team_id[:200]))

        @post(f"{API}/teams/{{team_id:str}}/members", status_code=200)
        async def team_member(request: Request, team_id: FromPath[str]) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                body = await decode_body(request, TeamMemberBody)
                message = pb.SetTeamMemberRequest(team_id=_id(team_id, "team_id"), member_id=body.member_id, member=body.member)
                return Response(to_data(await console.rpc("SetTeamMember", message, token)))

            return await guarded(run)()

        @get(f"{API}/orgs")
        async def my_orgs(request: Request) -> Response:
            return await guarded(scoped)(request, "ListMyOrgs", pb.OrgRequest())

        @post(f"{API}/switch", status_code=200)
        async def switch(request: Request) -> Response:
            async def run() -> Response:
                token = console.session_token(request)
                body = await decode_body(request, SwitchBody)
                grant = await console.rpc("SwitchOrg", pb.OrgRequest(org_id=_id(body.org_id, "org_id")), token)
                if console._sessions is not None:
                    console._sessions.forget(token)
                return console.signed_in(grant)

            return await guarded(run)()

        # -- the platform admin's views (the admin token as a bearer credential) ----------------
        def admin_only(request: Request) -> None:
            if not hmac.compare_digest(bearer(request).encode(), console._admin.encode()):
                raise Forbidden("This needs the admin token ('Authorization: Bearer <admin token>').", code="admin_required")

        @get(f"{API}/admin/orgs")
        async def admin_orgs(request: Request, limit: FromQuery[int] = 100, after: FromQuery[str] = "") -> Response:
            async def run() -> Response:
                admin_only(request)
                return Response(to_data(await console.rpc("ListOrgs", pb.ListOrgsRequest(limit=limit, after_id=after[:200]))))

            return await guarded(run)()

        @get(f"{API}/admin/users")
        async def admin_users(
            request: Request, limit: FromQuery[int] = 100, after: FromQuery[str] = "", org_id: FromQuery[str] = ""
        ) -> Response:
            async def run() -> Response:
                admin_only(request)
                message = pb.ListUsersRequest(limit=limit, after_id=after[:200], org_id=org_id[:200])
                return Response(to_data(await console.rpc("ListUsers", message)))

            return await guarded(run)()

        @get(f"{API}/admin/accounts/{{account_id:str}}/org")
        async def admin_org_of_account(request: Request, account_id: FromPath[str]) -> Response:
            async def run() -> Response:
                admin_only(request)
                return Response(to_data(await console.rpc("GetOrgByAccount", pb.GetOrgByAccountRequest(account_id=account_id[:200]))))

            return await guarded(run)()

        # -- pages ------------------------------------------------------------------------------
        @get([f"/console/{page}" for page in IDENTITY_PAGES], include_in_schema=False)
        async def identity_page() -> File:
            return _page(STATIC / "identity.html")

        @get("/console/members", include_in_schema=False)
        async def members_page() -> File:
            return _page(STATIC / "members.html")

        return [
            register,
            resend,
            verify,
            login,
            logout,
            session,
            reset_request,
            reset_confirm,
            invitation,
            accept,
            delete_user,
            org,
            configure_oidc,
            members,
            invite,
            set_role,
            remove,
            invitations,
            revoke_invitation,
            teams,
            create_team,
            delete_team,
            team_member,
            my_orgs,
            switch,
            admin_orgs,
            admin_users,
            admin_org_of_account,
            identity_page,
            members_page,
            *oidc.handlers(self),
        ]


def _page(path: Path) -> File:
    return File(path, filename=path.name, media_type=MEDIA_TYPES[".html"], headers=PAGE_HEADERS, content_disposition_type="inline")
