-- Units beyond tokens (issue 18): images (variant "<size>/<quality>"), audio_ms, character,
-- request. Each request's units are stored with it (the request log shows them); they are
-- priced by the edge, so cost_micros already includes them. usage_feed gets the column too:
-- the raw rows and the feed are written with the same column list.

ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS units Array(Tuple(unit String, variant String, quantity UInt64)) DEFAULT [];

ALTER TABLE usage_feed ADD COLUMN IF NOT EXISTS units Array(Tuple(unit String, variant String, quantity UInt64)) DEFAULT [];

-- Per hour, account, key, model and channel: how much of each unit (and variant) was used, by
-- how many requests. Fed from usage_feed as every rollup is, with the same deduplication window
-- (a replayed batch adds nothing twice). Requests without units add no rows.
CREATE TABLE IF NOT EXISTS units_hourly
(
    hour        DateTime('UTC'),
    account_id  String,
    key_id      String,
    model       LowCardinality(String),
    channel_id  LowCardinality(String),
    provider    LowCardinality(String),
    endpoint    LowCardinality(String),
    unit        LowCardinality(String),
    variant     String,
    quantity    UInt64,
    requests    UInt64
)
ENGINE = SummingMergeTree((quantity, requests))
ORDER BY (account_id, hour, key_id, model, channel_id, provider, endpoint, unit, variant)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS units_hourly_mv TO units_hourly AS
SELECT
    toStartOfHour(occurred_at) AS hour, account_id, key_id, model_served AS model, channel_id, provider, endpoint,
    tupleElement(u, 'unit') AS unit, tupleElement(u, 'variant') AS variant,
    sum(tupleElement(u, 'quantity')) AS quantity, count() AS requests
FROM usage_feed
ARRAY JOIN units AS u
GROUP BY hour, account_id, key_id, model, channel_id, provider, endpoint, unit, variant
