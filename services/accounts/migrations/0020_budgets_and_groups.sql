-- Issue 17, budgets and pricing groups (services/accounts/budgets.py).
-- Key ownership: the member or team a key belongs to ('' = the organisation's).
ALTER TABLE api_keys ADD COLUMN member_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
-- The account's pricing group (a [[groups]] entry of the router's catalog).
ALTER TABLE accounts ADD COLUMN price_group TEXT NOT NULL DEFAULT 'default';
-- Budgets per member and per team, in micro-USD per UTC day and month (0 = none). Their
-- spend is counted in key_spend under the budget's own id (budgets.budget_id).
CREATE TABLE budgets (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    scope TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    day_micros BIGINT NOT NULL DEFAULT 0,
    month_micros BIGINT NOT NULL DEFAULT 0,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, scope, subject_id)
);
