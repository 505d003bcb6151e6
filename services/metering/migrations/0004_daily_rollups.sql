-- Daily rollups, per account (account/key/model/channel/provider/endpoint, like usage_hourly)
-- and across accounts (like usage_hourly_all). Queries with day or month buckets (or none),
-- statements and channel rankings read whole UTC days from these and only the partial first
-- and last days from the hourly rollups, so they merge one quantile state per day and
-- dimension instead of 24 and stay exact to the hour. Backfilled from the hourly rollups on
-- first migration.

CREATE TABLE IF NOT EXISTS usage_daily
(
    day                 Date,
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
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, day, model, key_id, channel_id, provider, endpoint);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT
    toDate(occurred_at) AS day, account_id, key_id, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_events
GROUP BY day, account_id, key_id, model, channel_id, provider, endpoint;

INSERT INTO usage_daily
SELECT
    toDate(hour) AS day, account_id, key_id, model, channel_id, provider, endpoint,
    sum(requests), sum(errors), sum(attempts), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
    sum(reasoning_tokens), sum(cost_micros), sum(latency_ms_sum),
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(latency_q), quantilesTDigestMergeState(0.5, 0.95, 0.99)(ttft_q)
FROM usage_hourly
GROUP BY day, account_id, key_id, model, channel_id, provider, endpoint;

CREATE TABLE IF NOT EXISTS usage_daily_all
(
    day                 Date,
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
PARTITION BY toYYYYMM(day)
ORDER BY (day, model, channel_id, provider, endpoint);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_all_mv TO usage_daily_all AS
SELECT
    toDate(occurred_at) AS day, model_served AS model, channel_id, provider, endpoint,
    count() AS requests, countIf(status >= 400) AS errors, sum(toUInt64(attempts)) AS attempts,
    sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
    sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, sum(toUInt64(latency_ms)) AS latency_ms_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ttft_ms, ttft_ms > 0) AS ttft_q
FROM usage_events
GROUP BY day, model, channel_id, provider, endpoint;

INSERT INTO usage_daily_all
SELECT
    toDate(hour) AS day, model, channel_id, provider, endpoint,
    sum(requests), sum(errors), sum(attempts), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
    sum(reasoning_tokens), sum(cost_micros), sum(latency_ms_sum),
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(latency_q), quantilesTDigestMergeState(0.5, 0.95, 0.99)(ttft_q)
FROM usage_hourly_all
GROUP BY day, model, channel_id, provider, endpoint
