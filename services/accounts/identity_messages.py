"""Identity rows as the messages of ``proto/tollgate/rpc/identity.proto``."""

from __future__ import annotations

from services.accounts.identity_rows import InvitationRow, MemberRow, OrgRow, SessionRow, TeamRow
from tollgate.rpc import identity_pb2 as pb


def session_info(row: SessionRow, team_ids: tuple[str, ...] = ()) -> pb.SessionInfo:
    return pb.SessionInfo(
        user_id=row.user.id,
        email=row.user.email,
        name=row.user.name,
        org_id=row.org.id,
        org_name=row.org.name,
        account_id=row.org.account_id,
        member_id=row.member.id,
        role=row.member.role,
        team_ids=team_ids,
        email_verified=bool(row.user.email_verified_at_ms),
        expires_at_ms=row.expires_at_ms,
        via=row.via,
        session_id=row.id,
    )


def member_msg(m: MemberRow) -> pb.Member:
    return pb.Member(
        member_id=m.id,
        org_id=m.org_id,
        user_id=m.user_id,
        email=m.email,
        name=m.name,
        role=m.role,
        created_at_ms=m.created_at_ms,
        team_ids=m.team_ids,
    )


def team_msg(t: TeamRow) -> pb.Team:
    return pb.Team(team_id=t.id, org_id=t.org_id, name=t.name, created_at_ms=t.created_at_ms, member_ids=t.member_ids)


def org_msg(o: OrgRow) -> pb.Org:
    return pb.Org(
        org_id=o.id,
        name=o.name,
        account_id=o.account_id,
        oidc_issuer=o.oidc_issuer,
        oidc_client_id=o.oidc_client_id,
        oidc_email_domain=o.oidc_email_domain,
        oidc_default_role=o.oidc_default_role,
        created_at_ms=o.created_at_ms,
    )


def invitation_msg(i: InvitationRow, org_name: str = "", user_exists: bool = False) -> pb.Invitation:
    return pb.Invitation(
        invitation_id=i.id,
        org_id=i.org_id,
        org_name=org_name,
        email=i.email,
        role=i.role,
        created_at_ms=i.created_at_ms,
        expires_at_ms=i.expires_at_ms,
        user_exists=user_exists,
    )
