-- Rollups kept by materialized views on every insert into usage_events. They outlive the
-- raw rows (usage_events has a TTL, set from TOLLGATE_METERING_RAW_TTL_DAYS; rollups have
-- none). Latency and TTFT are kept as quantile states, so percentiles over any range of
-- hours are merged from states, never averaged from percentiles.
--
-- Exactly once: the consumer inserts only request ids usage_events does not hold yet
-- (see store.UsageStore.insert), so a redelivered event never reaches these views twice.

ALTER TABLE usage_events ADD INDEX IF NOT EXISTS request_id_bloom request_id TYPE bloom_filter(0.001) GRANULARITY 4;

CREATE TABLE IF NOT EXISTS usage_hourly
(
    hour                DateTime('UTC'),
    account_id          String,
    key_id              String,
    model               LowCardinality(String),
    channel_id          LowCardinality(String),
    provider            LowCardinality(String),
    endpoint            LowCardinality(String),
    requests            SimpleAggregateFunction(sum, UInt64),
    errors              SimpleAggregateFunction(sum, UInt64),
    attempts            SimpleAggregateFunction(sum, UInt64),
    prompt_tokens       SimpleAggregateFunction(sum, UInt64),
    completion_tokens   SimpleAggregateFunction(sum, UInt64),
    cached_tokens       SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens    SimpleAggregateFunction(sum, UInt64),
    cost_micros         SimpleAggregateFunction(sum, Int64),
    latency_ms_sum      SimpleAggregateFunction(sum, UInt64),
    latency_q           AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt32),
    ttft_q              AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (account_id, hour, model, key_id, channel_id, provider, endpoint);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT
    toStartOfHour(occurred_at) AS hour, account_id, key_id, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_events
GROUP BY hour, account_id, key_id, model, channel_id, provider, endpoint;

CREATE TABLE IF NOT EXISTS model_daily
(
    day                 Date,
    model               LowCardinality(String),
    requests            SimpleAggregateFunction(sum, UInt64),
    errors              SimpleAggregateFunction(sum, UInt64),
    tokens              SimpleAggregateFunction(sum, UInt64),
    cost_micros         SimpleAggregateFunction(sum, Int64),
    accounts            AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS model_daily_mv TO model_daily AS
SELECT
    toDate(occurred_at) AS day, model_served AS model, count() AS requests, countIf(status >= 400) AS errors,
    sum(prompt_tokens + completion_tokens) AS tokens, sum(cost_micros) AS cost_micros, uniqState(account_id) AS accounts
FROM usage_events
GROUP BY day, model
