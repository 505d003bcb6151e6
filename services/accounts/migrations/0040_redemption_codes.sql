-- Recharge by redemption code (services/accounts/billing_store.py). A code is stored only
-- as its keyed hash; redeeming sets redeemed_at_ms/redeemed_by once (the UPDATE that wins)
-- and credits the ledger in the same transaction (reference code:<id>).
CREATE TABLE redemption_codes (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    amount_micros BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    batch_id TEXT NOT NULL DEFAULT '',
    redeemed_at_ms BIGINT NOT NULL DEFAULT 0,
    redeemed_by TEXT NOT NULL DEFAULT '',
    revoked_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX redemption_codes_created ON redemption_codes (created_at_ms);

-- Wrong codes presented, per account: guesses are limited (RedeemCode answers 429).
CREATE TABLE redemption_failures (
    id {serial},
    account_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);

CREATE INDEX redemption_failures_account ON redemption_failures (account_id, at_ms);
