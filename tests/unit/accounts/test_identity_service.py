"""The Identity servicer (services/accounts/identity_service.py) beside Accounts on a real gRPC
server over a real store, on SQLite and PostgreSQL: registration, verification and the free
quota once per email, sign-in and its throttling, sessions (also as an accounts credential,
by role), password reset, invitations, roles and teams."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from argon2 import PasswordHasher

from services.accounts.access import Access
from services.accounts.identity_service import IdentityConfig, IdentityService
from services.accounts.identity_store import IdentityStore
from services.accounts.mailer import Mail
from services.accounts.passwords import Passwords
from services.accounts.service import AccountsService
from services.accounts.store import SqlStore
from tests.unit.accounts.test_mailer import smtp_server  # noqa: F401 - a local aiosmtpd server
from tests.unit.conftest import ADMIN, PEPPER, FakeNotifier
from tollgate import credentials, identity
from tollgate.rpc import accounts_pb2 as apb
from tollgate.rpc import accounts_pb2_grpc as apb_grpc
from tollgate.rpc import identity_pb2 as pb
from tollgate.rpc import identity_pb2_grpc as pb_grpc

FREE = 2_000_000
PASSWORD = "correct horse battery"
FAST = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # argon2id, cheap for tests


@dataclass
class Inbox:
    mails: list[Mail] = field(default_factory=list)

    async def send(self, mail: Mail) -> None:
        self.mails.append(mail)

    def token(self, to: str, page: str) -> str:
        for mail in reversed(self.mails):
            match = re.search(rf"/console/{page}\?token=(\S+)", mail.body)
            if mail.to == to and match:
                return match[1]
        raise AssertionError(f"no {page} mail to {to}: {[m.subject for m in self.mails]}")


@dataclass
class Env:
    ident: pb_grpc.IdentityStub
    accounts: apb_grpc.AccountsStub
    inbox: Inbox
    store: SqlStore
    addr: str
    channels: list

    def as_(self, credential: str) -> tuple[pb_grpc.IdentityStub, apb_grpc.AccountsStub]:
        channel = credentials.aio_channel(self.addr, credential)
        self.channels.append(channel)
        return pb_grpc.IdentityStub(channel), apb_grpc.AccountsStub(channel)


@pytest.fixture
async def env(accounts_db: str):
    store = SqlStore(accounts_db)
    inbox = Inbox()
    server = grpc.aio.server()
    apb_grpc.add_AccountsServicer_to_server(AccountsService(store, FakeNotifier(), Access(ADMIN, store, PEPPER), pepper=PEPPER), server)
    config = IdentityConfig(
        console_url="http://console.test", free_quota_micros=FREE, login_max_failures_email=3, login_max_failures_addr=6, pepper=PEPPER
    )
    pb_grpc.add_IdentityServicer_to_server(IdentityService(IdentityStore(store), inbox, ADMIN, config, FAST), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    addr = f"127.0.0.1:{port}"
    channel = credentials.aio_channel(addr, ADMIN)
    e = Env(pb_grpc.IdentityStub(channel), apb_grpc.AccountsStub(channel), inbox, store, addr, [channel])
    try:
        yield e
    finally:
        for c in e.channels:
            await c.close()
        await server.stop(None)
        store.close()


async def signed_up(env: Env, email: str = "ada@example.com", password: str = PASSWORD) -> pb.SessionGrant:
    await env.ident.Register(pb.RegisterRequest(email=email, password=password, name="Ada"))
    await env.ident.VerifyEmail(pb.VerifyEmailRequest(token=env.inbox.token(email, "verify")))
    return await env.ident.Login(pb.LoginRequest(email=email, password=password, client_addr="10.0.0.1"))


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def code_of(err: grpc.aio.AioRpcError) -> str:
    return dict(err.trailing_metadata() or ()).get("tollgate-error-code", "")


async def test_register_verify_login_and_free_quota(env: Env) -> None:
    reply = await env.ident.Register(pb.RegisterRequest(email="  Ada@Example.COM ", password=PASSWORD, name="Ada"))
    assert reply.user_id.startswith("usr_") and reply.org_id.startswith("org_") and reply.member_id.startswith("mem_")
    account = await env.accounts.GetAccount(apb.GetAccountRequest(account_id=reply.account_id))
    assert account.balance_micros == 0  # nothing before the email is verified
    err = await rpc_error(env.ident.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and code_of(err) == "email_not_verified"
    (mail,) = env.inbox.mails
    assert mail.to == "ada@example.com" and "http://console.test/console/verify?token=tge_" in mail.body
    verified = await env.ident.VerifyEmail(pb.VerifyEmailRequest(token=env.inbox.token("ada@example.com", "verify")))
    assert (verified.email, verified.free_quota_micros) == ("ada@example.com", FREE)
    assert (await env.accounts.GetAccount(apb.GetAccountRequest(account_id=reply.account_id))).balance_micros == FREE
    again = await rpc_error(env.ident.VerifyEmail(pb.VerifyEmailRequest(token=env.inbox.token("ada@example.com", "verify"))))
    assert code_of(again) == "invalid_token"  # one use

    grant = await env.ident.Login(pb.LoginRequest(email="ADA@example.com", password=PASSWORD))
    assert grant.session_token.startswith("tgs_") and grant.csrf_token == identity.csrf_token(grant.session_token)
    s = grant.session
    assert (s.user_id, s.org_id, s.account_id, s.member_id, s.role, s.via) == (
        reply.user_id,
        reply.org_id,
        reply.account_id,
        reply.member_id,
        "owner",
        "password",
    )
    assert (await env.ident.ResolveSession(pb.ResolveSessionRequest(session_token=grant.session_token))).user_id == reply.user_id
    assert (await env.ident.Logout(pb.LogoutRequest(session_token=grant.session_token))).ok
    err = await rpc_error(env.ident.ResolveSession(pb.ResolveSessionRequest(session_token=grant.session_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and code_of(err) == "session_expired"


async def test_free_quota_once_per_verified_email(env: Env) -> None:
    first = await signed_up(env)
    ident, _ = env.as_(first.session_token)
    await ident.DeleteUser(pb.DeleteUserRequest())
    assert await IdentityStore(env.store).user_by_email("ada@example.com") is None
    again = await env.ident.Register(pb.RegisterRequest(email="ada@example.com", password=PASSWORD))
    verified = await env.ident.VerifyEmail(pb.VerifyEmailRequest(token=env.inbox.token("ada@example.com", "verify")))
    assert verified.free_quota_micros == 0
    assert (await env.accounts.GetAccount(apb.GetAccountRequest(account_id=again.account_id))).balance_micros == 0
    other = await signed_up(env, "bob@example.com")  # another email still gets it
    assert (await env.accounts.GetAccount(apb.GetAccountRequest(account_id=other.session.account_id))).balance_micros == FREE


async def test_bad_input_is_refused_clearly(env: Env) -> None:
    err = await rpc_error(env.ident.Register(pb.RegisterRequest(email="not-an-email", password=PASSWORD)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and code_of(err) == "invalid_email"
    err = await rpc_error(env.ident.Register(pb.RegisterRequest(email="a@example.com", password="short")))
    assert code_of(err) == "weak_password"
    await env.ident.Register(pb.RegisterRequest(email="a@example.com", password=PASSWORD))
    err = await rpc_error(env.ident.Register(pb.RegisterRequest(email="A@example.com", password=PASSWORD)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and code_of(err) == "email_taken"


async def test_login_throttling_per_email_and_address(env: Env) -> None:
    await signed_up(env)
    for _ in range(3):
        err = await rpc_error(env.ident.Login(pb.LoginRequest(email="ada@example.com", password="wrong password!", client_addr="10.0.0.9")))
        assert code_of(err) == "invalid_credentials"
    # the right password is refused too while the email's window is full
    err = await rpc_error(env.ident.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD, client_addr="10.0.0.2")))
    meta = dict(err.trailing_metadata() or ())
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and meta["tollgate-error-code"] == "login_throttled"
    assert 1 <= int(meta["retry-after"]) <= 900
    # per address: failures over many emails from one address
    for i in range(3):
        await rpc_error(env.ident.Login(pb.LoginRequest(email=f"x{i}@example.com", password="nope nope nope", client_addr="10.0.0.9")))
    err = await rpc_error(env.ident.Login(pb.LoginRequest(email="new@example.com", password="nope nope nope", client_addr="10.0.0.9")))
    assert code_of(err) == "login_throttled"


async def test_password_reset_ends_sessions(env: Env) -> None:
    grant = await signed_up(env)
    assert (await env.ident.RequestPasswordReset(pb.RequestPasswordResetRequest(email="nobody@example.com"))).ok  # no enumeration
    await env.ident.RequestPasswordReset(pb.RequestPasswordResetRequest(email="ada@example.com"))
    token = env.inbox.token("ada@example.com", "reset")
    await env.ident.ResetPassword(pb.ResetPasswordRequest(token=token, password="a new password 42"))
    assert (
        code_of(await rpc_error(env.ident.ResolveSession(pb.ResolveSessionRequest(session_token=grant.session_token)))) == "session_expired"
    )
    assert (
        code_of(await rpc_error(env.ident.ResetPassword(pb.ResetPasswordRequest(token=token, password="another one 43"))))
        == "invalid_token"
    )
    assert code_of(await rpc_error(env.ident.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD)))) == "invalid_credentials"
    assert (await env.ident.Login(pb.LoginRequest(email="ada@example.com", password="a new password 42"))).session.role == "owner"


async def test_invitation_accepted_by_new_user_as_developer_and_roles_apply(env: Env) -> None:
    owner = await signed_up(env)
    owner_ident, _ = env.as_(owner.session_token)
    invitation = await owner_ident.InviteMember(pb.InviteMemberRequest(email="dev@example.com", role="developer"))
    assert (invitation.org_id, invitation.role) == (owner.session.org_id, "developer")
    token = env.inbox.token("dev@example.com", "invite")
    info = await env.ident.GetInvitation(pb.GetInvitationRequest(token=token))
    assert (info.email, info.role, info.user_exists) == ("dev@example.com", "developer", False)
    grant = await env.ident.AcceptInvitation(pb.AcceptInvitationRequest(token=token, password="developer password", name="Dev"))
    assert (grant.session.org_id, grant.session.account_id, grant.session.role, grant.session.via) == (
        owner.session.org_id,
        owner.session.account_id,
        "developer",
        "invitation",
    )
    assert (
        code_of(await rpc_error(env.ident.AcceptInvitation(pb.AcceptInvitationRequest(token=token, password="x" * 12))))
        == "invalid_invitation"
    )
    # the new user signs in with the password chosen at acceptance (email counted as verified)
    assert (await env.ident.Login(pb.LoginRequest(email="dev@example.com", password="developer password"))).session.role == "developer"

    dev_ident, dev_accounts = env.as_(grant.session_token)
    # a developer manages keys of the org's account, but may not invite
    key = await dev_accounts.CreateKey(apb.CreateKeyRequest(name="dev key"))
    assert key.key.account_id == owner.session.account_id
    assert (
        code_of(await rpc_error(dev_ident.InviteMember(pb.InviteMemberRequest(email="x@example.com", role="viewer")))) == "role_forbidden"
    )
    members = (await owner_ident.ListMembers(pb.OrgRequest())).members
    assert sorted((m.email, m.role) for m in members) == [("ada@example.com", "owner"), ("dev@example.com", "developer")]
    dev = next(m for m in members if m.role == "developer")
    # a viewer only looks
    await owner_ident.SetMemberRole(pb.SetMemberRoleRequest(member_id=dev.member_id, role="viewer"))
    assert len((await dev_accounts.ListKeys(apb.ListKeysRequest())).keys) == 1
    err = await rpc_error(dev_accounts.CreateKey(apb.CreateKeyRequest(name="no")))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and code_of(err) == "role_forbidden"
    assert code_of(await rpc_error(dev_accounts.TopUp(apb.TopUpRequest(amount_micros=1, reference="r")))) == "admin_required"
    # removal ends the member's sessions in that org
    await owner_ident.RemoveMember(pb.RemoveMemberRequest(member_id=dev.member_id))
    assert code_of(await rpc_error(dev_accounts.ListKeys(apb.ListKeysRequest()))) == "session_expired"


async def test_existing_user_accepts_with_password_and_role_limits(env: Env) -> None:
    owner = await signed_up(env)
    other = await signed_up(env, "bob@example.com")
    owner_ident, _ = env.as_(owner.session_token)
    await owner_ident.InviteMember(pb.InviteMemberRequest(email="bob@example.com", role="admin"))
    token = env.inbox.token("bob@example.com", "invite")
    assert (await env.ident.GetInvitation(pb.GetInvitationRequest(token=token))).user_exists
    assert code_of(await rpc_error(env.ident.AcceptInvitation(pb.AcceptInvitationRequest(token=token, password="wrong password")))) == (
        "invalid_credentials"
    )
    grant = await env.ident.AcceptInvitation(pb.AcceptInvitationRequest(token=token, password=PASSWORD))
    assert (grant.session.org_id, grant.session.role, grant.session.user_id) == (owner.session.org_id, "admin", other.session.user_id)
    admin_ident, _ = env.as_(grant.session_token)
    owner_member = owner.session.member_id
    # an admin may not touch an owner nor make owners; the last owner stays an owner
    assert (
        code_of(await rpc_error(admin_ident.SetMemberRole(pb.SetMemberRoleRequest(member_id=owner_member, role="viewer"))))
        == "role_forbidden"
    )
    assert (
        code_of(await rpc_error(admin_ident.InviteMember(pb.InviteMemberRequest(email="c@example.com", role="owner")))) == "role_forbidden"
    )
    assert (
        code_of(await rpc_error(owner_ident.SetMemberRole(pb.SetMemberRoleRequest(member_id=owner_member, role="admin")))) == "last_owner"
    )
    # a session reaches only its own organisation
    assert code_of(await rpc_error(admin_ident.ListMembers(pb.OrgRequest(org_id=other.session.org_id)))) == "forbidden"
    # bob still signs in to his own org by default, and to the other when he names it
    assert (await env.ident.Login(pb.LoginRequest(email="bob@example.com", password=PASSWORD))).session.org_id == other.session.org_id
    chosen = await env.ident.Login(pb.LoginRequest(email="bob@example.com", password=PASSWORD, org_id=owner.session.org_id))
    assert chosen.session.role == "admin"


async def test_teams(env: Env) -> None:
    owner = await signed_up(env)
    ident, _ = env.as_(owner.session_token)
    team = await ident.CreateTeam(pb.CreateTeamRequest(name="Research"))
    assert code_of(await rpc_error(ident.CreateTeam(pb.CreateTeamRequest(name="Research")))) == "team_exists"
    joined = await ident.SetTeamMember(pb.SetTeamMemberRequest(team_id=team.team_id, member_id=owner.session.member_id, member=True))
    assert list(joined.member_ids) == [owner.session.member_id]
    (me,) = (await ident.ListMembers(pb.OrgRequest())).members
    assert list(me.team_ids) == [team.team_id]
    info = await env.ident.ResolveSession(pb.ResolveSessionRequest(session_token=owner.session_token))
    assert list(info.team_ids) == [team.team_id]
    left = await ident.SetTeamMember(pb.SetTeamMemberRequest(team_id=team.team_id, member_id=owner.session.member_id, member=False))
    assert list(left.member_ids) == []
    await ident.DeleteTeam(pb.DeleteTeamRequest(team_id=team.team_id))
    assert list((await ident.ListTeams(pb.OrgRequest())).teams) == []


async def test_frontend_methods_need_the_admin_credential(env: Env) -> None:
    owner = await signed_up(env)
    ident, _ = env.as_(owner.session_token)
    err = await rpc_error(ident.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and code_of(err) == "admin_required"
    bogus, _ = env.as_("tgs_" + "x" * 43)
    assert code_of(await rpc_error(bogus.ListMembers(pb.OrgRequest()))) == "session_expired"
    # the admin names the organisation
    assert code_of(await rpc_error(env.ident.ListMembers(pb.OrgRequest()))) == "missing_org_id"
    assert len((await env.ident.ListMembers(pb.OrgRequest(org_id=owner.session.org_id))).members) == 1


async def test_admin_views_of_orgs_and_users(env: Env) -> None:
    ada = await signed_up(env)
    bob = await signed_up(env, "bob@example.com")
    orgs = (await env.ident.ListOrgs(pb.ListOrgsRequest())).orgs
    assert {o.org_id for o in orgs} == {ada.session.org_id, bob.session.org_id}
    first = (await env.ident.ListOrgs(pb.ListOrgsRequest(limit=1))).orgs
    rest = (await env.ident.ListOrgs(pb.ListOrgsRequest(limit=10, after_id=first[0].org_id))).orgs
    assert len(first) == 1 and len(rest) == 1 and rest[0].org_id != first[0].org_id
    users = (await env.ident.ListUsers(pb.ListUsersRequest(org_id=ada.session.org_id))).users
    assert [(u.email, u.email_verified, [(m.org_id, m.role) for m in u.memberships]) for u in users] == [
        ("ada@example.com", True, [(ada.session.org_id, "owner")])
    ]
    assert len((await env.ident.ListUsers(pb.ListUsersRequest())).users) == 2
    assert (await env.ident.GetOrgByAccount(pb.GetOrgByAccountRequest(account_id=bob.session.account_id))).org_id == bob.session.org_id
    assert code_of(await rpc_error(env.ident.GetOrgByAccount(pb.GetOrgByAccountRequest(account_id="acct_nope")))) == "org_not_found"
    assert code_of(await rpc_error(env.ident.ListOrgs(pb.ListOrgsRequest(limit=5000)))) == "invalid_limit"
    session_ident, _ = env.as_(ada.session_token)
    assert code_of(await rpc_error(session_ident.ListOrgs(pb.ListOrgsRequest()))) == "admin_required"


async def test_mails_go_over_smtp_when_configured(accounts_db: str, smtp_server) -> None:  # noqa: F811
    """The same registration with the SMTP mailer: the verification mail reaches a local SMTP server."""
    import email
    from email.policy import default

    from services.accounts.mailer import create_mailer

    sink, port = smtp_server
    store = SqlStore(accounts_db)
    server = grpc.aio.server()
    mailer = create_mailer(f"smtp://mailer:s3cret@127.0.0.1:{port}", Path("/nonexistent"), "Tollgate <no-reply@t.test>")
    pb_grpc.add_IdentityServicer_to_server(
        IdentityService(IdentityStore(store), mailer, ADMIN, IdentityConfig(console_url="http://c"), FAST), server
    )
    addr = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    channel = credentials.aio_channel(addr, ADMIN)
    try:
        ident = pb_grpc.IdentityStub(channel)
        await ident.Register(pb.RegisterRequest(email="smtp@example.com", password=PASSWORD))
        (_sender, rcpts, content) = sink.messages[-1]
        assert rcpts == ["smtp@example.com"]
        body = email.message_from_bytes(content, policy=default).get_body(preferencelist=("plain",)).get_content()
        token = re.search(r"/console/verify\?token=(\S+)", body)[1]
        assert (await ident.VerifyEmail(pb.VerifyEmailRequest(token=token))).email == "smtp@example.com"
    finally:
        await channel.close()
        await server.stop(None)
        store.close()


async def test_switching_organisations(env: Env) -> None:
    ada = await signed_up(env)
    bob = await signed_up(env, "bob@example.com")
    ada_ident, _ = env.as_(ada.session_token)
    await ada_ident.InviteMember(pb.InviteMemberRequest(email="bob@example.com", role="billing"))
    await env.ident.AcceptInvitation(pb.AcceptInvitationRequest(token=env.inbox.token("bob@example.com", "invite"), password=PASSWORD))
    bob_ident, _ = env.as_(bob.session_token)
    orgs = (await bob_ident.ListMyOrgs(pb.OrgRequest())).orgs
    assert [(o.org_id, o.role) for o in orgs] == [(bob.session.org_id, "owner"), (ada.session.org_id, "billing")]
    switched = await bob_ident.SwitchOrg(pb.OrgRequest(org_id=ada.session.org_id))
    assert (switched.session.org_id, switched.session.role, switched.session.account_id) == (
        ada.session.org_id,
        "billing",
        ada.session.account_id,
    )
    assert code_of(await rpc_error(bob_ident.ListMyOrgs(pb.OrgRequest()))) == "session_expired"  # the old session ended
    new_ident, _ = env.as_(switched.session_token)
    stranger = await signed_up(env, "carol@example.com")
    assert code_of(await rpc_error(new_ident.SwitchOrg(pb.OrgRequest(org_id=stranger.session.org_id)))) == "not_a_member"
    assert code_of(await rpc_error(env.ident.SwitchOrg(pb.OrgRequest(org_id=ada.session.org_id)))) == "session_required"


async def test_registrations_per_address_are_limited(env: Env) -> None:
    for i in range(20):  # IdentityConfig's default: 20 per address per window
        await env.ident.Register(pb.RegisterRequest(email=f"u{i}@example.com", password=PASSWORD, client_addr="10.9.9.9"))
    err = await rpc_error(env.ident.Register(pb.RegisterRequest(email="u99@example.com", password=PASSWORD, client_addr="10.9.9.9")))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and code_of(err) == "login_throttled"
    await env.ident.Register(pb.RegisterRequest(email="u99@example.com", password=PASSWORD, client_addr="10.9.9.10"))
