-- Risk control and tickets (services/accounts/risk). An account's status may now also be
-- 'deactivated' (permanent: no reactivation by request). A throttle is a temporary
-- account-wide requests-per-minute limit the edges apply until throttle_until_ms.
ALTER TABLE accounts ADD COLUMN throttle_rpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN throttle_until_ms BIGINT NOT NULL DEFAULT 0;

-- Every action a rule (or an admin) took: warn, throttle, suspend, deactivate.
-- figures: a JSON object of what the rule measured. Never request content.
CREATE TABLE risk_records (
    id {serial},
    account_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    figures TEXT NOT NULL DEFAULT '{}',
    created_at_ms BIGINT NOT NULL,
    until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX risk_records_account ON risk_records(account_id, created_at_ms);

-- A suspended account's request to be reactivated, and the admin's decision.
CREATE TABLE reactivation_requests (
    id {serial},
    account_id TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    note TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX reactivation_requests_status ON reactivation_requests(status, id);
CREATE INDEX reactivation_requests_account ON reactivation_requests(account_id, id);

-- Support tickets; the requests they name keep their technical metadata (never content)
-- until keep_until_ms.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    created_at_ms BIGINT NOT NULL,
    keep_until_ms BIGINT NOT NULL
);
CREATE INDEX tickets_account ON tickets(account_id, created_at_ms);

-- metadata: '' until the request's usage event is seen, then a JSON object of its
-- technical metadata (status, error code, attempts, timings, channel).
CREATE TABLE ticket_requests (
    ticket_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '',
    keep_until_ms BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, request_id)
);
CREATE INDEX ticket_requests_request ON ticket_requests(request_id);
