from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Ack(_message.Message):
    __slots__ = ("ok",)
    OK_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    def __init__(self, ok: _Optional[bool] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("email", "password", "name", "org_name", "client_addr")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    name: str
    org_name: str
    client_addr: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., name: _Optional[str] = ..., org_name: _Optional[str] = ..., client_addr: _Optional[str] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("user_id", "org_id", "account_id", "member_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    org_id: str
    account_id: str
    member_id: str
    def __init__(self, user_id: _Optional[str] = ..., org_id: _Optional[str] = ..., account_id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class ResendVerificationRequest(_message.Message):
    __slots__ = ("email", "client_addr")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    email: str
    client_addr: str
    def __init__(self, email: _Optional[str] = ..., client_addr: _Optional[str] = ...) -> None: ...

class VerifyEmailRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class VerifyEmailReply(_message.Message):
    __slots__ = ("user_id", "email", "free_quota_micros")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FREE_QUOTA_MICROS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    free_quota_micros: int
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., free_quota_micros: _Optional[int] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("email", "password", "client_addr", "org_id")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    client_addr: str
    org_id: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., client_addr: _Optional[str] = ..., org_id: _Optional[str] = ...) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("user_id", "email", "name", "org_id", "org_name", "account_id", "member_id", "role", "team_ids", "email_verified", "expires_at_ms", "via", "session_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    name: str
    org_id: str
    org_name: str
    account_id: str
    member_id: str
    role: str
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    email_verified: bool
    expires_at_ms: int
    via: str
    session_id: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., org_id: _Optional[str] = ..., org_name: _Optional[str] = ..., account_id: _Optional[str] = ..., member_id: _Optional[str] = ..., role: _Optional[str] = ..., team_ids: _Optional[_Iterable[str]] = ..., email_verified: _Optional[bool] = ..., expires_at_ms: _Optional[int] = ..., via: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class SessionGrant(_message.Message):
    __slots__ = ("session_token", "csrf_token", "session")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSRF_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    csrf_token: str
    session: SessionInfo
    def __init__(self, session_token: _Optional[str] = ..., csrf_token: _Optional[str] = ..., session: _Optional[_Union[SessionInfo, _Mapping]] = ...) -> None: ...

class RequestPasswordResetRequest(_message.Message):
    __slots__ = ("email", "client_addr")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    email: str
    client_addr: str
    def __init__(self, email: _Optional[str] = ..., client_addr: _Optional[str] = ...) -> None: ...

class ResetPasswordRequest(_message.Message):
    __slots__ = ("token", "password")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    token: str
    password: str
    def __init__(self, token: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class GetInvitationRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class Invitation(_message.Message):
    __slots__ = ("invitation_id", "org_id", "org_name", "email", "role", "created_at_ms", "expires_at_ms", "user_exists")
    INVITATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    USER_EXISTS_FIELD_NUMBER: _ClassVar[int]
    invitation_id: str
    org_id: str
    org_name: str
    email: str
    role: str
    created_at_ms: int
    expires_at_ms: int
    user_exists: bool
    def __init__(self, invitation_id: _Optional[str] = ..., org_id: _Optional[str] = ..., org_name: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., user_exists: _Optional[bool] = ...) -> None: ...

class AcceptInvitationRequest(_message.Message):
    __slots__ = ("token", "session_token", "password", "name", "client_addr")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    token: str
    session_token: str
    password: str
    name: str
    client_addr: str
    def __init__(self, token: _Optional[str] = ..., session_token: _Optional[str] = ..., password: _Optional[str] = ..., name: _Optional[str] = ..., client_addr: _Optional[str] = ...) -> None: ...

class StartOidcRequest(_message.Message):
    __slots__ = ("org_id", "redirect_uri", "code_challenge")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    redirect_uri: str
    code_challenge: str
    def __init__(self, org_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., code_challenge: _Optional[str] = ...) -> None: ...

class StartOidcReply(_message.Message):
    __slots__ = ("state", "nonce", "issuer", "client_id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    state: str
    nonce: str
    issuer: str
    client_id: str
    def __init__(self, state: _Optional[str] = ..., nonce: _Optional[str] = ..., issuer: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class FinishOidcRequest(_message.Message):
    __slots__ = ("state", "code_verifier")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CODE_VERIFIER_FIELD_NUMBER: _ClassVar[int]
    state: str
    code_verifier: str
    def __init__(self, state: _Optional[str] = ..., code_verifier: _Optional[str] = ...) -> None: ...

class OidcPending(_message.Message):
    __slots__ = ("org_id", "issuer", "client_id", "nonce", "redirect_uri")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    issuer: str
    client_id: str
    nonce: str
    redirect_uri: str
    def __init__(self, org_id: _Optional[str] = ..., issuer: _Optional[str] = ..., client_id: _Optional[str] = ..., nonce: _Optional[str] = ..., redirect_uri: _Optional[str] = ...) -> None: ...

class OidcSignInRequest(_message.Message):
    __slots__ = ("org_id", "issuer", "email", "email_verified", "name", "subject")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    issuer: str
    email: str
    email_verified: bool
    name: str
    subject: str
    def __init__(self, org_id: _Optional[str] = ..., issuer: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., name: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class ResolveSessionRequest(_message.Message):
    __slots__ = ("session_token",)
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    def __init__(self, session_token: _Optional[str] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("session_token",)
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    def __init__(self, session_token: _Optional[str] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class OrgRequest(_message.Message):
    __slots__ = ("org_id",)
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    def __init__(self, org_id: _Optional[str] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("member_id", "org_id", "user_id", "email", "name", "role", "created_at_ms", "team_ids")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    org_id: str
    user_id: str
    email: str
    name: str
    role: str
    created_at_ms: int
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, member_id: _Optional[str] = ..., org_id: _Optional[str] = ..., user_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., team_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListMembersReply(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class InviteMemberRequest(_message.Message):
    __slots__ = ("org_id", "email", "role")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    email: str
    role: str
    def __init__(self, org_id: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class ListInvitationsReply(_message.Message):
    __slots__ = ("invitations",)
    INVITATIONS_FIELD_NUMBER: _ClassVar[int]
    invitations: _containers.RepeatedCompositeFieldContainer[Invitation]
    def __init__(self, invitations: _Optional[_Iterable[_Union[Invitation, _Mapping]]] = ...) -> None: ...

class RevokeInvitationRequest(_message.Message):
    __slots__ = ("org_id", "invitation_id")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    INVITATION_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    invitation_id: str
    def __init__(self, org_id: _Optional[str] = ..., invitation_id: _Optional[str] = ...) -> None: ...

class SetMemberRoleRequest(_message.Message):
    __slots__ = ("org_id", "member_id", "role")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    member_id: str
    role: str
    def __init__(self, org_id: _Optional[str] = ..., member_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("org_id", "member_id")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    member_id: str
    def __init__(self, org_id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class Team(_message.Message):
    __slots__ = ("team_id", "org_id", "name", "created_at_ms", "member_ids")
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    org_id: str
    name: str
    created_at_ms: int
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, team_id: _Optional[str] = ..., org_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., member_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateTeamRequest(_message.Message):
    __slots__ = ("org_id", "name")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    name: str
    def __init__(self, org_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListTeamsReply(_message.Message):
    __slots__ = ("teams",)
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[Team]
    def __init__(self, teams: _Optional[_Iterable[_Union[Team, _Mapping]]] = ...) -> None: ...

class DeleteTeamRequest(_message.Message):
    __slots__ = ("org_id", "team_id")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    team_id: str
    def __init__(self, org_id: _Optional[str] = ..., team_id: _Optional[str] = ...) -> None: ...

class SetTeamMemberRequest(_message.Message):
    __slots__ = ("org_id", "team_id", "member_id", "member")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    team_id: str
    member_id: str
    member: bool
    def __init__(self, org_id: _Optional[str] = ..., team_id: _Optional[str] = ..., member_id: _Optional[str] = ..., member: _Optional[bool] = ...) -> None: ...

class ConfigureOidcRequest(_message.Message):
    __slots__ = ("org_id", "issuer", "client_id", "email_domain", "default_role")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROLE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    issuer: str
    client_id: str
    email_domain: str
    default_role: str
    def __init__(self, org_id: _Optional[str] = ..., issuer: _Optional[str] = ..., client_id: _Optional[str] = ..., email_domain: _Optional[str] = ..., default_role: _Optional[str] = ...) -> None: ...

class Org(_message.Message):
    __slots__ = ("org_id", "name", "account_id", "oidc_issuer", "oidc_client_id", "oidc_email_domain", "oidc_default_role", "created_at_ms")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    OIDC_ISSUER_FIELD_NUMBER: _ClassVar[int]
    OIDC_CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    OIDC_EMAIL_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    OIDC_DEFAULT_ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    name: str
    account_id: str
    oidc_issuer: str
    oidc_client_id: str
    oidc_email_domain: str
    oidc_default_role: str
    created_at_ms: int
    def __init__(self, org_id: _Optional[str] = ..., name: _Optional[str] = ..., account_id: _Optional[str] = ..., oidc_issuer: _Optional[str] = ..., oidc_client_id: _Optional[str] = ..., oidc_email_domain: _Optional[str] = ..., oidc_default_role: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class ListOrgsRequest(_message.Message):
    __slots__ = ("limit", "after_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    after_id: str
    def __init__(self, limit: _Optional[int] = ..., after_id: _Optional[str] = ...) -> None: ...

class ListOrgsReply(_message.Message):
    __slots__ = ("orgs",)
    ORGS_FIELD_NUMBER: _ClassVar[int]
    orgs: _containers.RepeatedCompositeFieldContainer[Org]
    def __init__(self, orgs: _Optional[_Iterable[_Union[Org, _Mapping]]] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("limit", "after_id", "org_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    after_id: str
    org_id: str
    def __init__(self, limit: _Optional[int] = ..., after_id: _Optional[str] = ..., org_id: _Optional[str] = ...) -> None: ...

class Membership(_message.Message):
    __slots__ = ("org_id", "member_id", "role")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    member_id: str
    role: str
    def __init__(self, org_id: _Optional[str] = ..., member_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "email", "name", "email_verified", "created_at_ms", "memberships")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    name: str
    email_verified: bool
    created_at_ms: int
    memberships: _containers.RepeatedCompositeFieldContainer[Membership]
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., email_verified: _Optional[bool] = ..., created_at_ms: _Optional[int] = ..., memberships: _Optional[_Iterable[_Union[Membership, _Mapping]]] = ...) -> None: ...

class ListUsersReply(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class GetOrgByAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class MyOrg(_message.Message):
    __slots__ = ("org_id", "name", "role", "member_id", "account_id")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    name: str
    role: str
    member_id: str
    account_id: str
    def __init__(self, org_id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., member_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class ListMyOrgsReply(_message.Message):
    __slots__ = ("orgs",)
    ORGS_FIELD_NUMBER: _ClassVar[int]
    orgs: _containers.RepeatedCompositeFieldContainer[MyOrg]
    def __init__(self, orgs: _Optional[_Iterable[_Union[MyOrg, _Mapping]]] = ...) -> None: ...
