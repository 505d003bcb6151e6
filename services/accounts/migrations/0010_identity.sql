-- Users, organisations, members and roles, teams, invitations, sessions and one-time email
-- tokens (issue 17, identity). Secrets are never stored: passwords as argon2id hashes,
-- session / verification / reset / invitation tokens as SHA-256 hashes, emails for the
-- free-quota record as a keyed hash of the normalized address.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    email_verified_at_ms BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

-- An organisation owns exactly one account (the billing unit: balance, keys, group).
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id),
    oidc_issuer TEXT NOT NULL DEFAULT '',
    oidc_client_id TEXT NOT NULL DEFAULT '',
    oidc_email_domain TEXT NOT NULL DEFAULT '',
    oidc_default_role TEXT NOT NULL DEFAULT 'developer',
    created_at_ms BIGINT NOT NULL
);

-- role: owner | admin | developer | billing | viewer.
CREATE TABLE members (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (org_id, user_id)
);

CREATE INDEX members_user ON members(user_id);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    PRIMARY KEY (team_id, member_id)
);

CREATE INDEX team_members_member ON team_members(member_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    accepted_at_ms BIGINT NOT NULL DEFAULT 0,
    revoked_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX invitations_org ON invitations(org_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    org_id TEXT NOT NULL,
    via TEXT NOT NULL DEFAULT 'password',
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX sessions_user ON sessions(user_id);

-- purpose: verify | reset. One use each, until expires_at_ms.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    purpose TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT NOT NULL DEFAULT 0
);

-- The free quota, once per verified email (kept when the user is deleted).
CREATE TABLE free_quota_grants (
    email_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    micros BIGINT NOT NULL,
    granted_at_ms BIGINT NOT NULL
);

-- Failed sign-ins per bucket ("email:<hash>" or "addr:<address>") in a fixed window.
CREATE TABLE login_throttle (
    bucket TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start_ms BIGINT NOT NULL
);

-- OpenID Connect sign-ins under way: state (hashed) -> the PKCE S256 challenge and the nonce, one use.
-- The verifier itself stays in the browser (an HttpOnly cookie) until the callback.
CREATE TABLE oidc_states (
    state_hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
