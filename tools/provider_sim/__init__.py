"""A deterministic fake upstream LLM provider for demos, tests and benchmarks. Not product code.

It speaks the protocols below (one Litestar app, see ``app.create_app``):
- OpenAI at ``/v1``: chat/completions, legacy completions, responses, embeddings, rerank, models (``openai.py``,
  ``completions.py``, ``responses.py``, ``embeddings.py``)
- Anthropic Messages at ``/anthropic/v1``: messages, messages/count_tokens (``anthropic.py``)
- Gemini at ``/gemini/v1beta/models/{model}:{action}`` (``gemini.py``)
- Azure OpenAI at ``/azure/openai/deployments/{deployment}/…?api-version=`` and ``/azure/openai/v1`` (``azure.py``)
- Cohere (``/cohere/v2``), Jina (``/jina/v1``) and Voyage (``/voyage/v1``) embeddings and rerank (``retrieval.py``)
- Google Vertex AI at ``/vertex/v1/projects/…/publishers/{google|anthropic}/models/{model}:{action}``,
  behind bearer tokens from its fake OAuth2 token endpoint ``/_sim/oauth2/token`` (``vertex.py``)
- AWS Bedrock at ``/bedrock/model/{model}/converse`` and ``.../converse-stream``, SigV4 checked, streams in
  AWS's binary event-stream framing (``bedrock.py``, ``eventstream.py``)
and behaves identically in all of them (``common.py``). The *model name* chooses the behaviour:
- any name: a deterministic answer, max-output-tokens words long (default 12); or, when the
  request declares tools and holds no tool result yet, one call to the first tool (7 tokens)
- ``sim-slow``: waits ``SIM_SLOW_MS`` (default 1500) before answering
- ``sim-drip``: streams one frame every ``SIM_DRIP_MS`` (default 200): long-lived streams
- ``sim-error-NNN`` (e.g. 500 / 503 / 429 / 400): that HTTP error in the protocol's error shape
- ``sim-timeout``: never answers (until the client gives up)
- ``sim-midstream-error``: streams 3 text pieces, then drops the connection
- ``sim-malformed-stream``: streams 2 text pieces, then ``data: {not json``, then ends cleanly
- ``sim-stall``: streams 3 text pieces, then sends nothing more while the connection stays open
- ``sim-flaky-NN``: exactly NN of every 100 requests answer 500, spread evenly
- ``POST /_sim/force {"model": M, "status": S}``: model M answers HTTP S until forced to 0
Reasoning mode, for any model, when the request asks for reasoning (``reasoning_effort``;
Anthropic ``thinking``; Gemini ``thinkingConfig``): five words of reasoning text naming the
setting received (``common.reasoning_words``) come first, as ``reasoning_content``, a signed
thinking block, or thought parts (with ``includeThoughts``), counted as each provider counts
them; the answer is then at most 12 words. Anthropic's thinking rules are enforced
(docs/reasoning.md).
Token counts: prompt tokens = words in all system/message texts and tool results; completion
tokens = words answered (7 for a tool call; 9 for a JSON-schema answer, the schema's JSON); Anthropic reports the
words of text blocks marked with ``cache_control`` as ``cache_creation_input_tokens`` (apart from ``input_tokens``).
``/_sim/stats`` counts requests per model.
"""
