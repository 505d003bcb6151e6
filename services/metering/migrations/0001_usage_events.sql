-- One row per request. Duplicates of a request id (a redelivered or re-published event)
-- share the whole sorting key, so ReplacingMergeTree collapses them on merge and every
-- query reads with FINAL, which collapses them before merges have run.
CREATE TABLE IF NOT EXISTS usage_events
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
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (account_id, occurred_at, request_id)
