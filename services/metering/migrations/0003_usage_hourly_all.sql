-- Hourly rollup across accounts (per model/channel/provider/endpoint), sorted by hour, so
-- queries over every account (admin usage, channel rankings) read a time range of a small
-- table instead of scanning usage_hourly, which is sorted by account first. Backfilled
-- from usage_hourly on first migration.

CREATE TABLE IF NOT EXISTS usage_hourly_all
(
    hour                DateTime('UTC'),
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
ORDER BY (hour, model, channel_id, provider, endpoint);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_all_mv TO usage_hourly_all AS
SELECT
    toStartOfHour(occurred_at) AS hour, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_events
GROUP BY hour, model, channel_id, provider, endpoint;

INSERT INTO usage_hourly_all
SELECT
    hour, model, channel_id, provider, endpoint,
    sum(requests), sum(errors), sum(attempts), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
    sum(reasoning_tokens), sum(cost_micros), sum(latency_ms_sum),
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(latency_q), quantilesTDigestMergeState(0.5, 0.95, 0.99)(ttft_q)
FROM usage_hourly
GROUP BY hour, model, channel_id, provider, endpoint
