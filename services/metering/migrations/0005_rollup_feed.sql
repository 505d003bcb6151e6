-- Rollups that a crash cannot leave behind the raw table.

-- Before: the rollup views hung off usage_events. A crash after the raw rows were written but
-- before the views had written theirs left those requests in the raw table only, and the
-- exactly-once lookup then skipped their redelivery: the rollups were short forever.

-- Now each batch is written in two steps (services/metering/store.py):
--   1. its new rows go into usage_events, tagged with the batch's id; no views hang off it;
--   2. the same rows go into usage_feed (a Null table: it stores nothing), whose views fill
--      every rollup. This insert carries the batch id as its deduplication token, and the
--      rollups keep a deduplication window. Then the batch id is recorded in usage_batches.
-- A batch whose id is in usage_events but not in usage_batches was cut short. Metering
-- replays step 2 for it, from the raw rows, at start-up and after a failure. A rollup that
-- already has the batch's block drops the replay; one that does not gets it, exactly once.

ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS batch_id String DEFAULT '';

ALTER TABLE usage_events ADD INDEX IF NOT EXISTS batch_id_set batch_id TYPE set(100) GRANULARITY 1;

CREATE TABLE IF NOT EXISTS usage_batches
(
    batch_id            String,
    done_at             DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY batch_id
-- Kept a day longer than the 7 days the start-up replay looks back (store.py).
TTL done_at + INTERVAL 8 DAY;

CREATE TABLE IF NOT EXISTS usage_feed
(
    request_id          String,
    occurred_at         DateTime64(3, 'UTC'),
    account_id          String,
    key_id              String,
    endpoint            LowCardinality(String),
    model_requested     LowCardinality(String),
    model_served        LowCardinality(String),
    provider            LowCardinality(String),
    channel_id          LowCardinality(String),
    stream              Bool,
    status              UInt16,
    error_code          LowCardinality(String),
    attempts            UInt8,
    prompt_tokens       UInt64,
    completion_tokens   UInt64,
    cached_tokens       UInt64,
    reasoning_tokens    UInt64,
    cost_micros         Int64,
    price_version       LowCardinality(String),
    latency_ms          UInt32,
    ttft_ms             UInt32,
    upstream_latency_ms UInt32,
    gateway_overhead_ms UInt32,
    client_app          String,
    zdr                 Bool,
    batch_id            String
)
ENGINE = Null;

DROP VIEW IF EXISTS usage_hourly_mv;

ALTER TABLE usage_hourly MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT
    toStartOfHour(occurred_at) AS hour, account_id, key_id, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_feed
GROUP BY hour, account_id, key_id, model, channel_id, provider, endpoint;

DROP VIEW IF EXISTS model_daily_mv;

ALTER TABLE model_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS model_daily_mv TO model_daily AS
SELECT
    toDate(occurred_at) AS day, model_served AS model, count() AS requests, countIf(status >= 400) AS errors,
    sum(prompt_tokens + completion_tokens) AS tokens, sum(cost_micros) AS cost_micros, uniqState(account_id) AS accounts
FROM usage_feed
GROUP BY day, model;

DROP VIEW IF EXISTS usage_hourly_all_mv;

ALTER TABLE usage_hourly_all MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_all_mv TO usage_hourly_all AS
SELECT
    toStartOfHour(occurred_at) AS hour, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_feed
GROUP BY hour, model, channel_id, provider, endpoint;

DROP VIEW IF EXISTS usage_daily_mv;

ALTER TABLE usage_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT
    toDate(occurred_at) AS day, account_id, key_id, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_feed
GROUP BY day, account_id, key_id, model, channel_id, provider, endpoint;

DROP VIEW IF EXISTS usage_daily_all_mv;

ALTER TABLE usage_daily_all MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_all_mv TO usage_daily_all AS
SELECT
    toDate(occurred_at) AS day, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_feed
GROUP BY day, model, channel_id, provider, endpoint
