-- The accounts schema exactly as the code before numbered migrations built a new database
-- (git: services/accounts/db.py SCHEMA, then each ADDED_COLUMNS entry, then the notice
-- outbox's table from services/accounts/notices.py), in the order it ran them. Frozen: the
-- upgrade tests build "today's" databases from it. {serial} and {false} as in the migrations.

CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    balance_micros BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS api_keys_account ON api_keys(account_id);

CREATE TABLE IF NOT EXISTS ledger (
    id {serial},
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    amount_micros BIGINT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id);

CREATE TABLE IF NOT EXISTS key_spend (
    key_id TEXT NOT NULL,
    period TEXT NOT NULL,
    micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, period)
);

CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    holder TEXT NOT NULL,
    granted_micros BIGINT NOT NULL,
    debited_micros BIGINT NOT NULL DEFAULT 0,
    spent_micros BIGINT NOT NULL DEFAULT -1,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS leases_account ON leases(account_id, expires_at_ms);

ALTER TABLE accounts ADD COLUMN require_zdr BOOLEAN NOT NULL DEFAULT {false};
ALTER TABLE api_keys ADD COLUMN require_zdr BOOLEAN NOT NULL DEFAULT {false};
ALTER TABLE ledger ADD COLUMN effective_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN tpm_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_used_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN spend_cap_day_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN spend_cap_month_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN parent_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN cap_keys TEXT NOT NULL DEFAULT '';

CREATE TABLE IF NOT EXISTS notice_outbox (
    id {serial},
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
