-- The accounts schema as it first shipped (before any column was added to it).
-- {serial} and {false} are the two words the engines spell differently; see
-- services/accounts/schema.py. Every statement says IF NOT EXISTS because a database made
-- before numbered migrations already has these tables and is adopted by applying them.
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

-- Per-key spend per UTC day ("d<day number>") and month ("m<year*12+month-1>"), for spend caps.
CREATE TABLE IF NOT EXISTS key_spend (
    key_id TEXT NOT NULL,
    period TEXT NOT NULL,
    micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, period)
);

-- Balance an edge has reserved; see docs/balance-leases.md. spent_micros = -1 while open.
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
