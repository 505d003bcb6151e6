-- The admin lookup of one request by id (any account). usage_events is sorted by
-- (account_id, occurred_at, request_id): without the account, a lookup read every part's
-- bloom filter. This table maps a request id to where its row is in usage_events (account and
-- time), sorted by request id: the lookup reads one granule here, then one there.
-- Fed from usage_feed like the rollups (a replayed batch adds nothing twice); repeats of an id
-- collapse on merge and the lookup takes any one of them (they point to the same row).
CREATE TABLE IF NOT EXISTS request_index
(
    request_id   String,
    occurred_at  DateTime64(3, 'UTC'),
    account_id   String
)
ENGINE = ReplacingMergeTree
ORDER BY request_id
SETTINGS non_replicated_deduplication_window = 1000, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS request_index_mv TO request_index AS
SELECT request_id, occurred_at, account_id FROM usage_feed;

-- Existing deployments: every stored request (a batch replayed later adds a repeat, which is harmless).
INSERT INTO request_index (request_id, occurred_at, account_id) SELECT request_id, occurred_at, account_id FROM usage_events
