-- The columns added one by one before numbered migrations (the former ADDED_COLUMNS list),
-- in the order they shipped. A database made before numbered migrations has some or all
-- of them: while it is adopted, an ADD COLUMN of a column it already has is skipped.
ALTER TABLE accounts ADD COLUMN require_zdr BOOLEAN NOT NULL DEFAULT {false};
ALTER TABLE api_keys ADD COLUMN require_zdr BOOLEAN NOT NULL DEFAULT {false};
-- When the request happened (usage).
ALTER TABLE ledger ADD COLUMN effective_at_ms BIGINT NOT NULL DEFAULT 0;
-- Newline-separated glob patterns.
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at_ms BIGINT NOT NULL DEFAULT 0;
-- 0 = unlimited.
ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN tpm_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_used_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN spend_cap_day_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN spend_cap_month_micros BIGINT NOT NULL DEFAULT 0;
-- An adjustment's reason.
ALTER TABLE ledger ADD COLUMN note TEXT NOT NULL DEFAULT '';
-- Usage: the key that spent it.
ALTER TABLE ledger ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
-- The key that created it or that it replaced: its spend counts against that key's caps too.
ALTER TABLE api_keys ADD COLUMN parent_key_id TEXT NOT NULL DEFAULT '';
-- A capped key's lease ('' = the account's).
ALTER TABLE leases ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
-- Newline-separated capped keys whose caps the lease reserves against.
ALTER TABLE leases ADD COLUMN cap_keys TEXT NOT NULL DEFAULT '';
