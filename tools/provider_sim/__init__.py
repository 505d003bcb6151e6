"""A deterministic OpenAI-compatible upstream for demos, tests and benchmarks.

Not product code. The *model name* chooses the behaviour:
- any name: a deterministic answer, ``max_tokens`` words long (default 12)
- ``sim-slow``: waits ``SIM_SLOW_MS`` (default 1500) before answering
- ``sim-error-500`` / ``sim-error-429`` / ``sim-error-400``: that HTTP error
- ``sim-timeout``: never answers (until the client gives up)
- ``sim-midstream-error``: streams a few chunks, then drops the connection
Token counts: prompt tokens = words in all message texts; completion tokens = words answered.
"""
