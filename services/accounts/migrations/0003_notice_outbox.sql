-- Control notices not yet acknowledged by JetStream; see services/accounts/notices.py.
-- payload is the encoded event in hex. Before numbered migrations the outbox created this
-- table itself, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS notice_outbox (
    id {serial},
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
