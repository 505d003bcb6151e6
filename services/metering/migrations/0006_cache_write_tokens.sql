-- Cache writes (issue 16): prompt tokens written to a provider's prompt cache (Anthropic's
-- cache_creation_input_tokens). They are part of prompt_tokens, as cached_tokens are, and the edge
-- bills them at the model's (or the serving channel's) cache-write price; cost_micros already
-- includes that. Stored per request, for the request log; the rollups are unchanged.
-- usage_feed gets the column too: the raw rows and the feed are written with the same column list.

ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS cache_write_tokens UInt64 DEFAULT 0;

ALTER TABLE usage_feed ADD COLUMN IF NOT EXISTS cache_write_tokens UInt64 DEFAULT 0;
